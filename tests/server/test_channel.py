"""What reaches waitress before the application does, on a real server on 127.0.0.1: slow
clients cannot take it off the air, requests without the token are refused before their
body is read, and uploads never touch the disk."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.server.conftest import RealServer, multipart


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = RealServer(tmp_path_factory.mktemp("channel"))
    yield s
    s.stop()


def timed_health(server: RealServer, timeout: float = 1.0) -> float:
    """Seconds a fresh connection takes to get health answered (fails past `timeout`)."""
    started = time.monotonic()
    status, body = server.get("/v1/health", timeout=timeout)
    assert status == 200 and body["status"] == "ok"
    return time.monotonic() - started


def raw_response(sock: socket.socket, timeout: float) -> tuple[int, dict, bytes]:
    """(status, headers, body) read from a raw socket until the server closes it or the body is complete."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_120_slow_clients_do_not_take_health_off_the_air(server):
    """Each of 120 connections sends its request line one byte a second (a slowloris attack
    needs no token); health must stay answerable within a second meanwhile."""
    stop = threading.Event()
    sockets = []
    for _ in range(120):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sockets.append(s)

    def trickle() -> None:
        line = b"GET /v1/jobs/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        for i in range(len(line)):
            if stop.wait(1.0):
                return
            for s in sockets:
                try:
                    s.send(line[i:i + 1])
                except OSError:
                    pass

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        time.sleep(1.5)
        seconds = []
        for _ in range(3):  # a probe a second while the trickle goes on
            time.sleep(1.0)
            seconds.append(timed_health(server))
        assert max(seconds) < 1.0, seconds
    finally:
        stop.set()
        sender.join(10)
        for s in sockets:
            s.close()


def test_a_connection_that_never_finishes_its_header_is_cut(server):
    """A request header must be complete within the header timeout (10 s by default),
    however slowly it trickles in."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /v1/health HTTP/1.1\r\nX-Slow: " + b"a" * 30:
            try:
                s.send(bytes([byte]))
                s.settimeout(1.0)
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    finally:
        s.close()
    assert closed_after is not None and closed_after < 14, closed_after


@pytest.mark.parametrize("headers, status, code", [
    ("Host: 127.0.0.1:{port}\r\n", 401, "unauthorized"),
    ("Host: 127.0.0.1:{port}\r\nAuthorization: Bearer wrong\r\n", 401, "unauthorized"),
    ("Host: evil.example\r\nAuthorization: Bearer {token}\r\n", 421, "bad_host"),
])
def test_requests_that_would_be_refused_are_refused_before_their_body_is_read(server, headers, status, code):
    """A 50 MB upload announced without the token is answered at once, without waiting for
    (or storing) a single byte of its body."""
    head = (f"POST /v1/jobs HTTP/1.1\r\n{headers}Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {50 * 2**20}\r\n\r\n").format(port=server.port, token=server.token)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head.encode())
        started = time.monotonic()
        answer, hdrs, body = raw_response(s, timeout=3)
    assert time.monotonic() - started < 3
    assert answer == status and json.loads(body)["error"]["code"] == code
    assert hdrs["content-type"].startswith("application/json")
    assert timed_health(server) < 1.0


def open_files(pid: int) -> list[str]:
    """Regular files the process holds open, as /proc shows them (deleted temporary files included)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_an_upload_in_progress_is_held_in_memory_not_in_a_temporary_file(server):
    before = set(open_files(server.proc.pid))
    body, kind = multipart(os.urandom(3 * 2**20), "private-name.png", steps="1")
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {server.token}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + body[: 2 * 2**20])
        time.sleep(1.0)  # waitress has 2 MB of the body by now
        during = set(open_files(server.proc.pid)) - before
        s.sendall(body[2 * 2**20:])
        status, _, answer = raw_response(s, timeout=30)
    assert not during, during
    assert status == 400 and json.loads(answer)["error"]["code"] in ("not_an_image", "corrupt")
