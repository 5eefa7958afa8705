"""The native host driven exactly as a browser drives it: a child process with the caller's
origin as its argument, framed messages on stdin, framed replies on stdout."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from native_host.framing import HEADER, MAX_MESSAGE, MAX_REPLY, encode_frame, read_frame
from native_host.origins import DEFAULT_CALLERS
from tests.conftest import encode, natural_photo
from tests.server.conftest import RealServer, fake_server, free_port, private_config

ORIGIN = DEFAULT_CALLERS[0]


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    yield from private_config(tmp_path / "config", monkeypatch)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    real = RealServer(tmp_path_factory.mktemp("host") / "config")
    yield real
    real.stop()


class Browser:
    """A host process and what it sends back, frame by frame (each frame's raw size kept)."""

    def __init__(self, config_dir, port: int, origin: str = ORIGIN, autostart: bool = False, log_dir=None,
                 token: str | None = None, **settings) -> None:
        config_dir.mkdir(parents=True, exist_ok=True)
        if token:
            (config_dir / "token").write_text(token + "\n")
        (config_dir / "config.json").write_text(json.dumps({"port": port, "autostart": autostart, **settings}))
        env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(config_dir), "HF_HUB_OFFLINE": "1",
               "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
               "IMAGEPROTECTOR_LOG_DIR": str(log_dir or config_dir / "logs")}
        self.proc = subprocess.Popen([sys.executable, "-m", "native_host.main", origin], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.replies: list[tuple[int, dict]] = []
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            header = stream.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            (length,) = HEADER.unpack(header)
            message = read_frame(io.BytesIO(header + stream.read(length)))
            with self._lock:
                self.replies.append((length, message))
                self._lock.notify_all()
        with self._lock:
            self.replies.append((0, {"type": "eof"}))
            self._lock.notify_all()

    def send(self, message: dict | bytes) -> None:
        self.proc.stdin.write(message if isinstance(message, bytes) else encode_frame(message, MAX_MESSAGE))
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for _, message in self.replies:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                assert left > 0, f"no such reply in {timeout} s: {[m for _, m in self.replies][-5:]}"
                self._lock.wait(left)

    def of(self, request_id) -> list[dict]:
        with self._lock:
            return [m for _, m in self.replies if m.get("id") == request_id]

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(30)


def test_a_12_mp_photo_comes_back_in_chunks_under_1_mib_with_progress_first(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token=server.token)
    photo = encode(natural_photo("coffee", (4000, 3000)), "JPEG", quality=90)
    browser.send({"type": "protect", "id": "big", "data": base64.b64encode(photo).decode(), "name": "big.jpg",
                  "mime": "image/jpeg", "options": {"steps": 2, "max_size": 0}})
    first = browser.wait_for(lambda m: m.get("id") == "big" and m["type"] in ("progress", "error"))
    assert first["type"] == "progress", first
    sent = time.monotonic()
    browser.send({"type": "ping", "id": "p"})  # answered while the job runs
    browser.wait_for(lambda m: m.get("id") == "p")
    assert time.monotonic() - sent < 2
    done = browser.wait_for(lambda m: m.get("id") == "big" and m["type"] in ("done", "error"), timeout=600)
    assert done["type"] == "done", done
    replies = browser.of("big")
    kinds = [m["type"] for m in replies]
    assert kinds.index("progress") < kinds.index("chunk") < kinds.index("done")
    chunks = [m for m in replies if m["type"] == "chunk"]
    assert len(chunks) > 1 and [c["index"] for c in chunks] == list(range(chunks[0]["count"]))
    assert all(size < MAX_REPLY for size, m in browser.replies)
    data = b"".join(base64.b64decode(c["data"]) for c in chunks)
    assert hashlib.sha256(data).hexdigest() == done["sha256"] and len(data) == done["size"]
    assert Image.open(io.BytesIO(data)).size == (4000, 3000) and done["name"] == "big.protected.jpg"
    assert browser.close() == 0


def test_a_photo_sent_in_chunks_is_joined_and_bad_messages_get_protocol_errors(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token=server.token)
    photo = encode(natural_photo("coffee", (64, 48)))
    half = len(photo) // 2
    browser.send({"type": "chunk", "id": 7, "index": 1, "count": 2, "data": base64.b64encode(photo[half:]).decode()})
    browser.send({"type": "chunk", "id": 7, "index": 0, "count": 2, "data": base64.b64encode(photo[:half]).decode()})
    browser.send(struct.pack("=I", 9) + b"{not json")
    browser.send({"type": "teleport", "id": "t"})
    browser.send({"type": "protect", "id": "b", "data": "%%% not base64"})
    browser.send({"type": "protect", "name": "no id"})
    browser.send({"type": "protect", "id": 7, "chunks": 2, "name": "small.png", "options": {"steps": 2}})
    done = browser.wait_for(lambda m: m.get("id") == 7 and m["type"] in ("done", "error"))
    assert done["type"] == "done", done
    errors = [m for _, m in browser.replies if m["type"] == "error"]
    assert sorted(str(m["id"]) for m in errors) == ["None", "None", "b", "t"]
    assert all(m["code"] == "protocol" for m in errors)
    assert browser.close() == 0


def test_an_origin_it_was_not_installed_for_is_refused(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, origin="chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/")
    refused = browser.wait_for(lambda m: m["type"] in ("error", "eof"))
    assert refused["code"] == "origin"
    assert browser.proc.wait(10) == 1


def test_companion_down_with_autostart_off_is_companion_unreachable(tmp_path):
    browser = Browser(tmp_path / "config", free_port(), autostart=False)
    browser.send({"type": "protect", "id": "x", "data": base64.b64encode(encode(natural_photo("coffee", (32, 24))))
                  .decode()})
    browser.send({"type": "status", "id": "s"})
    error = browser.wait_for(lambda m: m.get("id") == "x" and m["type"] == "error")
    status = browser.wait_for(lambda m: m.get("id") == "s")
    assert error["code"] == "companion_unreachable" and "autostart" in error["message"]
    assert status["reachable"] is False and status["code"] == "companion_unreachable"
    assert browser.close() == 0


def test_a_wrong_token_reads_unauthorized(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token="not-the-servers-token")
    browser.send({"type": "protect", "id": "w", "data": base64.b64encode(encode(natural_photo("coffee", (32, 24))))
                  .decode()})
    assert browser.wait_for(lambda m: m.get("id") == "w")["code"] == "unauthorized"
    browser.close()


def test_the_companions_errors_reach_the_page_with_their_codes(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token=server.token)
    browser.send({"type": "protect", "id": "n", "data": base64.b64encode(b"this is not a photo").decode()})
    browser.send({"type": "protect", "id": "e", "data": base64.b64encode(encode(natural_photo("coffee", (32, 24))))
                  .decode(), "options": {"epsilon": 99}})
    assert browser.wait_for(lambda m: m.get("id") == "n" and m["type"] == "error")["code"] == "bad_image"
    assert browser.wait_for(lambda m: m.get("id") == "e" and m["type"] == "error")["code"] == "bad_option"
    browser.close()


def test_a_full_queue_reads_busy_and_loses_no_other_photo(tmp_path, monkeypatch):
    """One job may wait: of three photos sent at once, one runs, one may wait, and the one
    the queue has no room for is answered `busy` while the others still come back."""
    monkeypatch.setenv("IMAGEPROTECTOR_QUEUE_SIZE", "1")
    real = RealServer(tmp_path / "busy")
    try:
        browser = Browser(tmp_path / "config", real.port, token=real.token)
        photo = base64.b64encode(encode(natural_photo("coffee", (800, 600)))).decode()
        for i in range(3):
            browser.send({"type": "protect", "id": f"b{i}", "data": photo})
        ends = [browser.wait_for(lambda m, i=i: m.get("id") == f"b{i}" and m["type"] in ("done", "error"), 300)
                for i in range(3)]
        assert [m["code"] for m in ends if m["type"] == "error"] in (["busy"], ["busy", "busy"]), ends
        assert any(m["type"] == "done" for m in ends), ends  # the host's threads submit in any order
        assert browser.close() == 0
    finally:
        real.stop()


def test_a_companion_that_never_answers_is_unreachable_in_seconds(tmp_path):
    """Something listens on the port but never replies (a hung companion): the client's
    health check times out, and the request ends as `companion_unreachable`, naming the
    port, within seconds instead of hanging the page."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.listen(8)
        browser = Browser(tmp_path / "config", silent.getsockname()[1], token="t" * 43)
        started = time.monotonic()
        browser.send({"type": "protect", "id": "t", "data": base64.b64encode(encode(natural_photo("coffee",
                                                                                                  (32, 24)))).decode()})
        error = browser.wait_for(lambda m: m.get("id") == "t" and m["type"] == "error", 90)
        assert error["code"] == "companion_unreachable" and str(silent.getsockname()[1]) in error["message"], error
        assert time.monotonic() - started < 30
        assert browser.close() == 0


def test_a_cancelled_photo_reads_cancelled_and_the_host_goes_on(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token=server.token)
    browser.send({"type": "protect", "id": "c", "data": base64.b64encode(encode(natural_photo("coins"))).decode(),
                  "options": {"epsilon": 1, "steps": 200}})
    browser.wait_for(lambda m: m.get("id") == "c" and m["type"] == "progress")
    browser.send({"type": "cancel", "id": "c"})
    assert browser.wait_for(lambda m: m.get("id") == "c" and m["type"] == "error", 60)["code"] == "cancelled"
    browser.send({"type": "ping", "id": "p"})
    assert browser.wait_for(lambda m: m.get("id") == "p")["type"] == "pong"
    assert not [m for m in browser.of("c") if m["type"] == "done"]
    assert browser.close() == 0


def test_a_photo_slower_than_photo_timeout_reads_timeout_and_its_job_is_cancelled(server, tmp_path):
    browser = Browser(tmp_path / "config", server.port, token=server.token, photo_timeout=2)
    started = time.monotonic()
    browser.send({"type": "protect", "id": "slow", "data": base64.b64encode(encode(natural_photo("coins"))).decode(),
                  "options": {"epsilon": 1, "steps": 200}})
    error = browser.wait_for(lambda m: m.get("id") == "slow" and m["type"] == "error", 60)
    assert error["code"] == "timeout" and time.monotonic() - started < 30, error
    assert [m for m in browser.of("slow") if m["type"] == "progress"]  # it had started: the host gave up
    deadline = time.monotonic() + 10  # cancelled, the job stops between steps (200 at eps 1 take far longer)
    while server.get("/v1/health")[1]["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not server.get("/v1/health")[1]["running"]
    assert browser.close() == 0


def test_a_photo_over_the_companions_limits_reads_too_large(tmp_path):
    config = tmp_path / "small"
    config.mkdir()
    (config / "config.json").write_text('{"max_pixels": 10000}')
    real = RealServer(config)
    try:
        browser = Browser(tmp_path / "config", real.port, token=real.token)
        browser.send({"type": "protect", "id": "big", "data": base64.b64encode(encode(natural_photo("coffee",
                                                                                                    (200, 150))))
                      .decode()})
        assert browser.wait_for(lambda m: m.get("id") == "big" and m["type"] == "error")["code"] == "too_large"
        assert browser.close() == 0
    finally:
        real.stop()


def test_another_program_on_the_port_reads_not_companion(tmp_path):
    """Another program's web server on the companion's port: 404 and a page for everything."""
    with fake_server(404, b"<html>not here</html>", "text/html") as port:
        browser = Browser(tmp_path / "config", port, token="t" * 43)
        browser.send({"type": "protect", "id": "o", "data": base64.b64encode(encode(natural_photo("coffee",
                                                                                                  (32, 24)))).decode()})
        error = browser.wait_for(lambda m: m.get("id") == "o" and m["type"] == "error", 60)
        assert error["code"] == "not_companion", error
        assert browser.close() == 0


def test_a_model_that_does_not_load_reads_model_unavailable(tmp_path):
    """A model folder that is there but broken (no processor): the companion runs, its
    health says why, and each photo is answered `model_unavailable`."""
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llava"}')
    real = RealServer(tmp_path / "nomodel", None, "--model", str(broken), ready=lambda h: h["status"] == "error")
    try:
        browser = Browser(tmp_path / "config", real.port, token=real.token)
        browser.send({"type": "protect", "id": "m", "data": base64.b64encode(encode(natural_photo("coffee",
                                                                                                  (32, 24)))).decode()})
        error = browser.wait_for(lambda m: m.get("id") == "m" and m["type"] == "error", 120)
        assert error["code"] == "model_unavailable", error
        assert browser.close() == 0
    finally:
        real.stop()


def test_three_hosts_with_autostart_start_one_companion(tmp_path):
    config = tmp_path / "config"
    port = free_port()
    browsers = [Browser(config, port, autostart=True) for _ in range(3)]
    try:
        for i, browser in enumerate(browsers):
            browser.send({"type": "status", "id": f"s{i}"})
        statuses = [b.wait_for(lambda m, i=i: m.get("id") == f"s{i}", timeout=180) for i, b in enumerate(browsers)]
        assert all(s["reachable"] for s in statuses), statuses
        log = (config / "logs" / "native-host.log").read_text()
        assert log.count("starting one") == 1
    finally:
        for browser in browsers:
            browser.close()
        _stop_companion(port, config)


def _stop_companion(port: int, config) -> None:
    """Stop the companion a host started (it runs detached, in its own session)."""
    import signal

    out = subprocess.run(["pgrep", "-f", f"companion.cli serve --port {port}"], capture_output=True, text=True)
    for pid in out.stdout.split():
        os.kill(int(pid), signal.SIGTERM)
