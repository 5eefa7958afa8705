"""`imageprotector token [--rotate]`: the token the clients use, printed or replaced."""

from __future__ import annotations

import pytest

from companion import cli
from tests.server.conftest import private_config


@pytest.fixture(autouse=True)
def _private(tmp_path, monkeypatch):
    yield from private_config(tmp_path, monkeypatch)


def test_token_prints_the_same_token_until_rotated(tmp_path, capsys):
    assert cli.main(["token"]) == 0
    first = capsys.readouterr().out.strip()
    assert cli.main(["token"]) == 0 and capsys.readouterr().out.strip() == first
    assert cli.main(["token", "--rotate"]) == 0
    rotated = capsys.readouterr().out.strip()
    assert rotated != first and len(rotated) >= 40
    assert (tmp_path / "token").read_text().strip() == rotated


def test_rotate_says_a_running_companion_must_restart(capsys):
    assert cli.main(["token", "--rotate"]) == 0
    assert "until it restarts" in capsys.readouterr().err


def test_the_file_fallback_is_explained_once_not_on_every_call(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="companion.server.auth")
    assert cli.main(["token"]) == 0  # creates the token: no keyring here, so the file
    assert cli.main(["token", "--rotate"]) == 0
    assert cli.main(["token", "--rotate"]) == 0
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "token is kept in" in warnings[0].getMessage()


def test_token_imports_neither_torch_nor_transformers(tmp_path):
    """What makes it answer at once: no model library on its path."""
    import os
    import subprocess
    import sys

    code = ("import sys; from companion import cli; cli.main(['token']); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(tmp_path / "c")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"
