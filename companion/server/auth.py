"""The bearer token that lets our own clients in, and the proof that lets them trust the server.

The token is created on first start with `secrets` and kept in the OS keyring (`keyring`:
Keychain, Secret Service, Windows Credential Locker). Where no keyring backend works (a
headless Linux box, a CI runner), it goes to a file readable by the user alone (0600) in
the config folder, and the log says so. Clients (native host, watcher) read it the same way.

Before a client sends the token it checks that the process on the port is our companion:
another local user could have bound the port first to collect it. The client sends a
fresh random nonce to `GET /v1/hello?nonce=...` (no token); the server answers with
`server_proof(token, port, nonce)`, an HMAC-SHA256 under a key derived from the token,
over the port the server listens on and the nonce. Only a process that knows the token can
answer, the answer reveals nothing of the token, a recorded answer is useless for another
nonce, and it cannot be relayed from a real companion on another port (the port is in it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from companion.server.config import config_dir

log = logging.getLogger(__name__)

SERVICE = "imageprotector"
ACCOUNT = "companion-token"
TOKEN_FILE = "token"
PROOF_LABEL = b"imageprotector companion proof v1"
#: a nonce is 16 to 64 random bytes, in hex
NONCE = re.compile(r"[0-9a-f]{32,128}")
#: paths anyone may ask without the token: they tell nothing secret and change nothing
OPEN_PATHS = frozenset({"/v1/health", "/v1/hello"})


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


#: in the config folder once the keyring fallback has been explained
WARNED_MARKER = ".keyring-fallback-explained"


def _file() -> Path:
    return config_dir() / TOKEN_FILE


def _warn_once(message: str, *args) -> None:
    """A warning about the keyring fallback: shown once (a marker in the config folder), then
    kept to the debug log, so `token` and every client do not repeat it on each call."""
    marker = config_dir() / WARNED_MARKER
    if marker.exists():
        log.debug(message, *args)
        return
    log.warning(message + " (said once)", *args)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


def get_token(create: bool = True) -> str | None:
    """The token, created and stored on first use (when `create`).

    The token file is read first: it exists only where the keyring did not work, and asking
    a keyring that does not work can take seconds (a D-Bus timeout) on every call."""
    path = _file()
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    ring = _keyring()
    if ring is not None:
        try:
            token = ring.get_password(SERVICE, ACCOUNT)
            if token:
                return token
        except Exception as exc:  # a backend that exists but fails (locked, no D-Bus)
            _warn_once("the keyring failed (%s); using the token file instead", exc)
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
            _warn_once("the keyring failed (%s); using the token file instead", exc)
    path = _file()
    path.parent.mkdir(parents=True, exist_ok=True)
    _warn_once("no working OS keyring: the token is kept in %s (readable by you alone)", path)
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


def refusal(method: str, path: str, host: str | None, authorization: str | None, hosts: set[str],
            token: str) -> tuple[str, str] | None:
    """(code, message) when a request must be refused from its headers alone, else None.
    The one rule both the application and waitress's header parser apply (channel.py), so
    the answer is the same whether or not the body was read."""
    if host not in hosts:
        return "bad_host", f"this server answers to {sorted(hosts)[0]} only"
    if method == "OPTIONS" or path in OPEN_PATHS:
        return None  # a CORS preflight carries no token
    if not token_matches(authorization, token):
        return "unauthorized", "missing or wrong bearer token (see `imageprotector token`)"
    return None


def server_proof(token: str, port: int, nonce: str) -> str:
    """What only a companion holding `token` and listening on `port` answers to `nonce` (hex)."""
    key = hmac.new(token.encode(), PROOF_LABEL, hashlib.sha256).digest()  # the token itself is never a MAC key
    return hmac.new(key, f"{port}:{nonce}".encode(), hashlib.sha256).hexdigest()


def proof_matches(token: str, port: int, nonce: str, proof: str) -> bool:
    """The client's check of a server's answer to its nonce, in constant time."""
    return hmac.compare_digest(server_proof(token, port, nonce).encode(), str(proof).encode())
