"""Real servers on 127.0.0.1, started and stopped by the tests: load, equality with the
command line, and a restart after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests.conftest import encode, natural_photo
from tests.server.conftest import RealServer, free_port, multipart


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = RealServer(tmp_path_factory.mktemp("server"), None, "--queue-size", "8")
    yield s
    s.stop()


def submit(server: RealServer, image: bytes, **fields):
    body, kind = multipart(image, **fields)
    return server.request("POST", "/v1/jobs", body, {"Authorization": f"Bearer {server.token}", "Content-Type": kind})


def wait_done(server: RealServer, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, state = server.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {server.token}"})
        assert status == 200, state
        if state["state"] not in ("queued", "running"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished in {timeout} s")


def test_40_concurrent_jobs_against_a_queue_of_8(server):
    image = encode(natural_photo("coffee", (64, 48)))
    answers: list = [None] * 40
    health: list[int] = []
    stop = threading.Event()

    def client(i: int) -> None:
        answers[i] = submit(server, image, steps="2", seed=str(i))

    def poll_health() -> None:
        while not stop.is_set():
            health.append(server.get("/v1/health", timeout=5)[0])
            time.sleep(0.05)

    watcher = threading.Thread(target=poll_health)
    watcher.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [body["id"] for status, body, _ in answers if status == 202]
    refused = [(body, headers) for status, body, headers in answers if status == 503]
    assert len(accepted) + len(refused) == 40, [a[0] for a in answers]
    assert 1 <= len(accepted) <= 40 and len(set(accepted)) == len(accepted)
    assert refused, "a queue of 8 cannot take 40 jobs at once"
    for body, headers in refused:
        assert body["error"]["code"] == "queue_full" and int(headers["Retry-After"]) >= 1
    states = [wait_done(server, job_id) for job_id in accepted]
    stop.set()
    watcher.join()
    assert all(s["state"] == "done" and s["receipt"]["width"] == 64 for s in states)
    assert health and set(health) == {200}
    runs = Counter(line.split()[-5] for line in server.log.read_text().splitlines() if " done in " in line)
    assert all(runs[job_id] == 1 for job_id in accepted), runs  # each ran exactly once


def test_an_oversized_upload_gets_a_json_413_and_the_server_goes_on(server):
    body, kind = multipart(b"\xff\xd8" + bytes(64 * 2**20 + 2**19), "huge.jpg")
    status, answer, _ = server.request("POST", "/v1/jobs", body,
                                       {"Authorization": f"Bearer {server.token}", "Content-Type": kind})
    assert status == 413 and answer["error"]["code"] == "too_large"
    assert server.get("/v1/health")[0] == 200


def test_an_unknown_model_stops_the_start_with_one_line(tmp_path):
    env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "companion.cli", "serve", "--port", str(free_port()), "--model",
                           "no-such-model"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "no-such-model" in proc.stderr and "Traceback" not in proc.stderr


def test_result_is_byte_identical_to_the_command_line(server, tmp_path):
    photo = tmp_path / "cat.png"
    photo.write_bytes(encode(natural_photo("chelsea", (200, 133))))
    out = tmp_path / "cat.protected.jpg"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-m", "companion.cli", "protect", str(photo), "-o", str(out), "--site",
                           "facebook", "--steps", "40", "--seed", "7", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert out.is_file(), proc.stderr
    body, kind = multipart(photo.read_bytes(), "cat.png", site="facebook", steps="40", seed="7")
    status, data, headers = server.request("POST", "/v1/protect", body,
                                           {"Authorization": f"Bearer {server.token}", "Content-Type": kind})
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert data == out.read_bytes()


def test_sigkill_during_a_job_then_a_clean_restart(tmp_path):
    folder = tmp_path / "config"
    first = RealServer(folder)
    token = first.token
    status, job, _ = submit(first, encode(natural_photo("coins")), site="facebook", steps="200", epsilon="1")
    assert status == 202
    deadline = time.monotonic() + 60
    while first.get(f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"})[1]["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    second = RealServer(folder, first.port)
    try:
        assert second.token == token  # the same token, from the same store
        status, health = second.get("/v1/health")
        assert status == 200 and health["status"] == "ok" and health["queue_length"] == 0 and not health["running"]
        status, body = second.get(f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"})
        assert status == 404 and body["error"]["code"] == "not_found"  # nothing half-done survives
        status, done, _ = submit(second, encode(natural_photo("coffee", (64, 48))), steps="2")
        assert status == 202 and wait_done(second, done["id"])["state"] == "done"
    finally:
        second.stop()


def test_a_name_in_cyrillic_cjk_or_emoji_comes_back_with_its_file(server):
    from urllib.parse import unquote

    for name in ("фото.png", "写真.png", "🙂.png"):
        body, kind = multipart(encode(natural_photo("coffee", (64, 48))), name, steps="1")
        status, data, headers = server.request("POST", "/v1/protect", body,
                                               {"Authorization": f"Bearer {server.token}", "Content-Type": kind})
        assert status == 200 and data[:4] == b"\x89PNG", (name, status, data[:200])
        stem = name.rsplit(".", 1)[0]
        assert unquote(headers["Content-Disposition"].split("filename*=UTF-8''")[1]) == f"{stem}.protected.png"


def long_job(server: RealServer) -> str:
    """The id of a job that runs for tens of seconds (at 1/255 no model is moved: the whole budget runs)."""
    status, job, _ = submit(server, encode(natural_photo("coins")), site="facebook", steps="200", epsilon="1")
    assert status == 202
    deadline = time.monotonic() + 60
    while server.get(f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {server.token}"})[1]["state"] \
            != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job["id"]


def test_health_state_and_cancel_answer_while_a_full_queue_of_callers_waits(tmp_path):
    server = RealServer(tmp_path / "config", None, "--queue-size", "8")
    waiting: list[threading.Thread] = []
    try:
        running = long_job(server)
        image = encode(natural_photo("coffee", (64, 48)))
        body, kind = multipart(image, steps="2")
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": kind}

        def wait_for_file() -> None:
            try:
                server.request("POST", "/v1/protect", body, headers, timeout=120)
            except OSError:
                pass  # the server is stopped under it at the end

        waiting = [threading.Thread(target=wait_for_file, daemon=True) for _ in range(8)]
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 30
        while server.get("/v1/health", timeout=30)[1]["queue_length"] < 8:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {server.token}"}
        for path in ("/v1/health", f"/v1/jobs/{running}"):
            started = time.monotonic()
            assert server.get(path, headers=auth, timeout=1.0)[0] == 200
            assert time.monotonic() - started < 1.0, path
        started = time.monotonic()
        status, cancelled, _ = server.request("DELETE", f"/v1/jobs/{running}", headers=auth, timeout=1.0)
        assert status == 202 and time.monotonic() - started < 1.0
    finally:
        server.stop()
        for t in waiting:
            t.join(30)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_cleanly_even_during_a_job(tmp_path, signum):
    server = RealServer(tmp_path / "config")
    try:
        long_job(server)
        server.proc.send_signal(signum)
        assert server.proc.wait(15) == 0
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and "Error" not in log, log[-3000:]
    assert "stopped" in log.splitlines()[-1]
    with pytest.raises(OSError):  # the port is closed
        server.get("/v1/health", timeout=2)


def test_a_corrupt_model_file_is_reported_by_health_and_fails_jobs_with_503(tmp_path):
    import shutil

    from companion.models.registry import locate

    model = tmp_path / "broken-model"
    shutil.copytree(locate("demo").path, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    server = RealServer(tmp_path / "config", None, "--model", str(model),
                        ready=lambda health: health["status"] == "error")
    try:
        status, health = server.get("/v1/health")
        assert health["models_loaded"] is False and health["error"]["code"] == "model_unavailable"
        assert "safetensors" in health["error"]["message"].lower() or "model" in health["error"]["message"]
        body, kind = multipart(encode(natural_photo("coffee", (64, 48))), steps="1")
        status, answer, _ = server.request("POST", "/v1/protect", body,
                                           {"Authorization": f"Bearer {server.token}", "Content-Type": kind},
                                           timeout=30)
        assert status == 503 and answer["error"]["code"] == "model_unavailable"
        assert server.get("/v1/health")[1]["status"] == "error"
    finally:
        server.stop()


def test_without_v_the_server_says_it_listens_logs_each_request_and_says_it_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.server.conftest import free_port

    port = free_port()
    env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "companion.cli", "serve", "--port", str(port), "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health?secret=no", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log.read_text().splitlines()
    assert any(l.startswith("INFO") and "listening on 127.0.0.1" in l for l in lines), lines
    assert any(l.startswith("INFO") and "GET /v1/health 200" in l for l in lines), lines
    assert not any("secret" in l for l in lines)  # a query is never logged
    assert any("stopping (SIGINT)" in l for l in lines) and any("companion stopped" in l for l in lines)
    # the one warning a first start may give: where the token is kept (said once per user)
    assert [l for l in lines if l.startswith("WARNING") and "keyring" not in l] == []
