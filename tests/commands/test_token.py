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
