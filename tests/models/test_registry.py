"""Finding models: the demo, local folders, Hugging Face ids, and clear errors."""

from __future__ import annotations

import pytest
import torch

from companion.demo import DEMO_MODEL_DIR
from companion.engine.errors import ProtectError
from companion.models import registry


def test_demo_is_found_inside_the_package():
    info = registry.locate("demo")
    assert info.path == DEMO_MODEL_DIR and info.family == "llava"
    assert (info.path / "model.safetensors").is_file()


def test_local_folder_is_accepted():
    assert registry.locate(str(DEMO_MODEL_DIR)).family == "llava"


def test_uncached_hub_id_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProtectError) as info:
        registry.locate("llava-hf/llava-1.5-7b-hf", allow_download=True)
    assert info.value.code == "model_not_found"
    assert "hf download llava-hf/llava-1.5-7b-hf" in info.value.message
    assert "\n" not in info.value.message


def test_unknown_name_and_unsupported_family(tmp_path):
    with pytest.raises(ProtectError) as info:
        registry.locate("no-such-model")
    assert info.value.code == "model_not_found"
    (tmp_path / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(ProtectError) as info:
        registry.locate(str(tmp_path))
    assert info.value.code == "unsupported_model"


def test_device_and_dtype_choice():
    assert registry.resolve_device("cpu").type == "cpu"
    assert registry.default_dtype(torch.device("cpu")) == torch.float32
    assert registry.default_dtype(torch.device("cuda")) == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ProtectError):
            registry.resolve_device("cuda")
    with pytest.raises(ProtectError):
        registry.resolve_device("tpu")
