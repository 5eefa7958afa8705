"""The bearer token that lets our own clients in.

Created on first start with `secrets` and kept in the OS keyring (`keyring`: Keychain,
Secret Service, Windows Credential Locker). Where no keyring backend works (a headless
Linux box, a CI runner), it goes to a file readable by the user alone (0600) in the config
folder, and the log says so. Clients (native host, watcher) read it the same way.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from companion.server.config import config_dir

log = logging.getLogger(__name__)

SERVICE = "imageprotector"
ACCOUNT = "companion-token"
TOKEN_FILE = "token"


def _keyring():
    """The keyring module when a real backend is available, else None."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    return keyring


def _file() -> Path:
    return config_dir() / TOKEN_FILE


def get_token(create: bool = True) -> str | None:
    """The token, created and stored on first use (when `create`)."""
    ring = _keyring()
    if ring is not None:
        try:
            token = ring.get_password(SERVICE, ACCOUNT)
            if token:
                return token
        except Exception as exc:  # a backend that exists but fails (locked, no D-Bus)
            log.warning("the keyring failed (%s); using the token file instead", exc)
            ring = None
    path = _file()
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    return store_token(secrets.token_urlsafe(32)) if create else None


def store_token(token: str) -> str:
    """Keep `token` in the keyring, or in the 0600 file where no keyring works."""
    ring = _keyring()
    if ring is not None:
        try:
            ring.set_password(SERVICE, ACCOUNT, token)
            _file().unlink(missing_ok=True)
            return token
        except Exception as exc:
            log.warning("the keyring failed (%s); using the token file instead", exc)
    path = _file()
    path.parent.mkdir(parents=True, exist_ok=True)
    log.warning("no working OS keyring: the token is kept in %s (readable by you alone)", path)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def rotate_token() -> str:
    """A new token; the old one stops working (at the server's next start)."""
    return store_token(secrets.token_urlsafe(32))


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token`, compared in constant time."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())
