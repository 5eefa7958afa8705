"""Server tests: an app on the session's demo model, and real servers started on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from companion.server.app import create_app
from companion.server.config import ServerConfig

TOKEN = "test-token-0123456789"
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Never touch the user's config folder or keyring."""
    yield from private_config(tmp_path / "config", monkeypatch)


def private_config(folder: Path, monkeypatch):
    """Point the config folder at `folder` and the keyring at no backend, in this process
    and in the servers it starts (a generator for fixtures: restores the keyring after)."""
    import keyring
    from keyring.backends import fail

    monkeypatch.setenv("IMAGEPROTECTOR_CONFIG_DIR", str(folder))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def make_app(demo_adapter):
    """An app factory bound to the demo model; the apps' workers are stopped afterwards."""
    apps = []

    def make(**settings):
        config = ServerConfig(port=8765, allowed_origins=[EXTENSION], **settings)
        app = create_app(config, TOKEN, load=lambda: [demo_adapter])
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["imageprotector.jobs"].stop()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


BASE = "http://127.0.0.1:8765"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealServer:
    """`imageprotector serve` in a child process on 127.0.0.1, with a private config folder."""

    def __init__(self, config_dir: Path, port: int | None = None, *args: str, ready=None) -> None:
        """Start it and wait until its health satisfies `ready` (default: the models are loaded)."""
        ready = ready or (lambda health: health["models_loaded"])
        self.port = port or free_port()
        self.config_dir = config_dir
        self.log = config_dir / f"server-{time.monotonic_ns()}.log"
        config_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(config_dir), "HF_HUB_OFFLINE": "1",
               "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "OMP_NUM_THREADS": "2"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "companion.cli", "-v", "serve", "--port", str(self.port), "--device", "cpu", *args],
            stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if ready(self.get("/v1/health")[1]):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("server did not come up in 120 s")
        self.token = (config_dir / "token").read_text().strip()

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 60):
        """(status, JSON or bytes, headers) of one request."""
        import json

        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, body, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            status, body, hdrs = exc.code, exc.read(), exc.headers
        if hdrs.get("Content-Type", "").startswith("application/json"):
            body = json.loads(body)
        return status, body, hdrs

    def get(self, path: str, **kw):
        status, body, _ = self.request("GET", path, **kw)
        return status, body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def multipart(image: bytes, filename: str = "photo.png", **fields) -> tuple[bytes, str]:
    """A multipart/form-data body with the image and string fields."""
    boundary = "----imageprotector-test-boundary"
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@contextmanager
def fake_server(status: int, body: bytes, content_type: str = "application/json", heard: list | None = None):
    """A program other than our companion on a loopback port: it answers every GET and POST
    with `status` and `body`, and notes each request's headers in `heard`. Yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if heard is not None:
                heard.append(dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
