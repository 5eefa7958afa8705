"""Where settings come from: a flag beats the environment, which beats the file, which beats the default."""

from __future__ import annotations

import json

import pytest

from companion.engine.errors import ProtectError
from companion.server.config import DEFAULT_PORT, config_dir, load_config


def test_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGEPROTECTOR_PORT", raising=False)
    assert load_config().port == DEFAULT_PORT
    (config_dir()).mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.json").write_text(json.dumps({"port": 9001, "queue_size": 3,
                                                          "allowed_origins": ["moz-extension://x"]}))
    config = load_config()
    assert (config.port, config.queue_size, config.allowed_origins) == (9001, 3, ["moz-extension://x"])
    monkeypatch.setenv("IMAGEPROTECTOR_PORT", "9002")
    assert load_config().port == 9002
    assert load_config(port=9003).port == 9003
    assert load_config(port=None).port == 9002  # an unset flag does not override


def test_the_config_folder_is_the_platforms_unless_overridden(monkeypatch):
    monkeypatch.delenv("IMAGEPROTECTOR_CONFIG_DIR")
    from platformdirs import user_config_dir

    assert str(config_dir()) == user_config_dir("imageprotector", appauthor=False)


@pytest.mark.parametrize("content", ['{"port": 1, "colour": "red"}', "{not json", '{"port": 70000}',
                                     '{"photo_timeout": -1}'])
def test_bad_config_is_a_clear_error(content):
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.json").write_text(content)
    with pytest.raises(ProtectError) as info:
        load_config()
    assert info.value.code == "config"


def test_bad_environment_value(monkeypatch):
    monkeypatch.setenv("IMAGEPROTECTOR_PORT", "eighty")
    with pytest.raises(ProtectError) as info:
        load_config()
    assert "IMAGEPROTECTOR_PORT" in info.value.message


def test_checkpointing_is_off_unless_the_file_or_serve_turns_it_on():
    assert load_config().checkpointing is False
    assert load_config(checkpointing=None).checkpointing is False  # `serve` without --checkpointing
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.json").write_text(json.dumps({"checkpointing": True}))
    assert load_config().checkpointing is True


def test_offload_is_auto_unless_set_and_a_wrong_value_is_named():
    assert load_config().offload == "auto"
    assert load_config(offload="never").offload == "never"
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.json").write_text(json.dumps({"offload": "sometimes"}))
    with pytest.raises(ProtectError) as info:
        load_config()
    assert info.value.code == "config" and "auto, always, never" in info.value.message
