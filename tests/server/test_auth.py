"""The token: created once, kept in the keyring or a private file, compared in constant time."""

from __future__ import annotations

import stat

import keyring
import pytest
from keyring.backend import KeyringBackend

from companion.server import auth
from companion.server.config import config_dir


class MemoryKeyring(KeyringBackend):
    """A working keyring backend that keeps passwords in memory."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


def test_without_a_keyring_the_token_lives_in_a_private_file(caplog):
    token = auth.get_token()
    path = config_dir() / auth.TOKEN_FILE
    assert len(token) >= 40 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "no working OS keyring" in caplog.text
    assert auth.get_token() == token  # created once


def test_with_a_keyring_the_token_lives_there(monkeypatch):
    ring = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    try:
        token = auth.get_token()
        assert ring.store[(auth.SERVICE, auth.ACCOUNT)] == token
        assert not (config_dir() / auth.TOKEN_FILE).exists()
        new = auth.rotate_token()
        assert new != token and auth.get_token() == new
    finally:
        keyring.set_keyring(previous)


def test_rotation_replaces_the_file_token():
    old = auth.get_token()
    new = auth.rotate_token()
    assert new != old and auth.get_token() == new


@pytest.mark.parametrize(
    ("header", "ok"),
    [("Bearer s3cret", True), ("Bearer  s3cret ", True), ("Bearer s3cre", False), ("Bearer s3cretX", False),
     ("bearer s3cret", False), ("Basic s3cret", False), ("", False), (None, False)],
)
def test_token_matches(header, ok):
    assert auth.token_matches(header, "s3cret") is ok
