"""The application's safety and its JSON errors, through Flask's test client (no job is run
unless a test says so)."""

from __future__ import annotations

import io
import time
import tracemalloc

from werkzeug.http import parse_options_header

from tests.conftest import encode, natural_photo
from tests.engine.test_imageio import bomb_png
from tests.server.conftest import BASE, EXTENSION, auth


def photo(data: bytes, name: str = "photo.png", **fields) -> dict:
    return {"image": (io.BytesIO(data), name), **fields}


def test_health_needs_no_token_and_tells_no_secret(client):
    response = client.get("/v1/health", base_url=BASE)
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert {"version", "device", "models", "models_loaded", "queue_length"} <= set(body)
    assert "token" not in response.get_data(as_text=True).lower()


def test_every_other_route_needs_the_token(client):
    routes = [("post", "/v1/jobs"), ("get", "/v1/jobs/abc"), ("get", "/v1/jobs/abc/result"),
              ("delete", "/v1/jobs/abc"), ("post", "/v1/protect")]
    for method, path in routes:
        for headers in ({}, auth("wrong-token"), {"Authorization": "Basic dGVzdDp0ZXN0"}, auth("")):
            response = getattr(client, method)(path, base_url=BASE, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/jobs/abc", base_url=BASE, headers=auth()).status_code == 404  # the right token gets in


def test_foreign_host_header_is_refused(client):
    for host in ("evil.example:8765", "127.0.0.1:9999", "attacker.test", "localhost.evil.example:8765"):
        response = client.get("/v1/health", base_url=f"http://{host}", headers=auth())
        assert response.status_code == 421, host
        assert response.get_json()["error"]["code"] == "bad_host"
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert client.get("/v1/health", base_url=f"http://{host}").status_code == 200, host


def test_cors_only_for_the_extension(client):
    page = client.get("/v1/health", base_url=BASE, headers={"Origin": "https://social.example"})
    assert "Access-Control-Allow-Origin" not in page.headers
    preflight = client.options("/v1/jobs", base_url=BASE, headers={
        "Origin": "https://social.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    ours = client.options("/v1/jobs", base_url=BASE, headers={
        "Origin": EXTENSION, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert ours.headers["Access-Control-Allow-Origin"] == EXTENSION
    assert "authorization" in ours.headers["Access-Control-Allow-Headers"].lower()
    assert "*" not in ours.headers["Access-Control-Allow-Origin"]


def test_no_state_changing_get(client):
    for path in ("/v1/jobs", "/v1/protect"):
        response = client.get(path, base_url=BASE, headers=auth())
        assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_bomb_and_non_image_are_refused_before_decoding(client):
    tracemalloc.start()
    started = time.monotonic()
    bomb = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(bomb_png(), "bomb.png"))
    text = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(b"just some text\n" * 50, "a.jpg"))
    empty = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(b"", "e.jpg"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert bomb.status_code == 413 and bomb.get_json()["error"]["code"] == "too_large"
    assert text.status_code == 400 and text.get_json()["error"]["code"] == "not_an_image"
    assert empty.status_code == 400 and empty.get_json()["error"]["code"] == "empty"
    assert peak < 20 * 2**20, peak  # a 100 000 x 100 000 image was never allocated
    assert time.monotonic() - started < 10
    assert client.get("/v1/health", base_url=BASE).get_json()["queue_length"] == 0  # nothing was queued


def test_upload_size_cap(make_app):
    client = make_app(max_upload=10_000).test_client()
    big = encode(natural_photo("chelsea"), "PNG")
    response = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(big))
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"


def test_bad_options_are_400_with_a_code(client):
    data = encode(natural_photo("coffee", (64, 48)))
    for fields, code in [({"epsilon": "0"}, "bad_option"), ({"steps": "100000"}, "bad_option"),
                         ({"epsilon": "lots"}, "bad_option"), ({"site": "myspace"}, "unknown_site"),
                         ({"model": "llava-hf/other"}, "unknown_model"), ({"format": "gif"}, "bad_format")]:
        response = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(data, **fields))
        assert response.status_code == 400 and response.get_json()["error"]["code"] == code, fields
    missing = client.post("/v1/jobs", base_url=BASE, headers=auth(), data={"steps": "3"})
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "no_image"


def test_truncated_photo_fails_its_job_with_a_code_and_the_server_goes_on(client):
    truncated = encode(natural_photo("chelsea"), "JPEG", quality=90)[:3000]
    job = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(truncated, "cut.jpg")).get_json()
    for _ in range(200):
        state = client.get(f"/v1/jobs/{job['id']}", base_url=BASE, headers=auth()).get_json()
        if state["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert state["state"] == "failed" and state["error"]["code"] == "corrupt"
    result = client.get(f"/v1/jobs/{job['id']}/result", base_url=BASE, headers=auth())
    assert result.status_code == 400 and result.get_json()["error"]["code"] == "corrupt"
    assert "Traceback" not in result.get_data(as_text=True)
    assert client.get("/v1/health", base_url=BASE).status_code == 200


def test_sync_protect_returns_the_file_with_its_receipt(client):
    data = encode(natural_photo("astronaut", (160, 160)))
    response = client.post("/v1/protect", base_url=BASE, headers=auth(),
                           data=photo(data, "me.png", site="instagram", steps="30"))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert parse_options_header(response.headers["Content-Disposition"])[1]["filename"] == "me.protected.jpg"
    assert response.get_data()[:2] == b"\xff\xd8"
    import json

    receipt = json.loads(response.headers["X-ImageProtector-Receipt"])
    assert receipt["site"] == "instagram" and receipt["protected"] and receipt["linf"] <= 8
    assert 0.5 < receipt["ssim"] < 1


def test_delete_cancels_a_running_job_and_the_next_one_runs(client):
    long = client.post("/v1/jobs", base_url=BASE, headers=auth(),
                       data=photo(encode(natural_photo("coins")), "coins.png", site="facebook", epsilon="1")).get_json()
    short = client.post("/v1/jobs", base_url=BASE, headers=auth(),
                        data=photo(encode(natural_photo("coffee", (64, 48))), steps="2")).get_json()
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{long['id']}", base_url=BASE, headers=auth()).get_json()["step"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cancel = client.delete(f"/v1/jobs/{long['id']}", base_url=BASE, headers=auth())
    assert cancel.status_code == 202
    at_cancel = cancel.get_json()["step"]
    while client.get(f"/v1/jobs/{short['id']}", base_url=BASE, headers=auth()).get_json()["state"] != "done":
        assert time.monotonic() < deadline + 60
        time.sleep(0.05)
    state = client.get(f"/v1/jobs/{long['id']}", base_url=BASE, headers=auth()).get_json()
    assert state["state"] == "cancelled" and state["step"] <= at_cancel + 2
    result = client.get(f"/v1/jobs/{long['id']}/result", base_url=BASE, headers=auth())
    assert result.status_code == 409 and result.get_json()["error"]["code"] == "not_ready"


def test_health_names_the_models_of_a_preset_before_and_after_loading(make_app):
    client = make_app(preload=False, models=["mine", "demo"], presets={"mine": ["demo", "demo-face"]}).test_client()
    assert client.get("/v1/health", base_url=BASE).get_json()["models"] == ["demo", "demo-face"]
    response = client.post("/v1/protect", base_url=BASE, headers=auth(),
                           data=photo(encode(natural_photo("coffee", (64, 48))), steps="1"))
    assert response.status_code == 200
    # what was loaded (this app's loader gives the demo alone)
    assert client.get("/v1/health", base_url=BASE).get_json()["models"] == ["demo"]


def test_lazy_loading_is_reported_by_health(make_app):
    client = make_app(preload=False).test_client()
    before = client.get("/v1/health", base_url=BASE).get_json()
    assert before["load"] == "on first use" and before["models_loaded"] is False
    response = client.post("/v1/protect", base_url=BASE, headers=auth(),
                           data=photo(encode(natural_photo("coffee", (64, 48))), steps="2"))
    assert response.status_code == 200
    assert client.get("/v1/health", base_url=BASE).get_json()["models_loaded"] is True


def test_by_default_no_origin_at_all_gets_cors(demo_adapter):
    from companion.server.app import create_app
    from companion.server.config import ServerConfig

    app = create_app(ServerConfig(preload=False), "t", load=lambda: [demo_adapter])
    try:
        for origin in ("https://social.example", EXTENSION, "null"):
            r = app.test_client().options("/v1/jobs", base_url=BASE, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            assert "Access-Control-Allow-Origin" not in r.headers, origin
    finally:
        app.extensions["imageprotector.jobs"].stop()


def test_a_model_that_fails_to_load_shows_in_health_and_fails_jobs_with_503():
    from companion.engine.errors import ProtectError
    from companion.server.app import create_app
    from companion.server.config import ServerConfig

    def broken():
        raise ProtectError("model_missing", "model files are gone")

    app = create_app(ServerConfig(), "t", load=broken)
    try:
        client = app.test_client()
        headers = {"Authorization": "Bearer t"}
        job = client.post("/v1/protect", base_url=BASE, headers=headers,
                          data=photo(encode(natural_photo("coffee", (64, 48))), steps="2"))
        assert job.status_code == 503 and job.get_json()["error"]["code"] == "model_unavailable"
        assert "model files are gone" in job.get_json()["error"]["message"]
        health = client.get("/v1/health", base_url=BASE).get_json()
        assert health["status"] == "error" and health["error"]["code"] == "model_unavailable"
        assert "model files are gone" in health["error"]["message"]
    finally:
        app.extensions["imageprotector.jobs"].stop()


def test_a_name_in_any_script_comes_back_as_rfc6266_with_an_ascii_fallback(client):
    data = encode(natural_photo("coffee", (64, 48)))
    for name, fallback in (("фото.png", "photo.protected.png"), ("旅行 写真.png", "photo.protected.png"),
                           ("café 😀.png", "cafe.protected.png")):
        response = client.post("/v1/protect", base_url=BASE, headers=auth(), data=photo(data, name, steps="2"))
        assert response.status_code == 200, name
        disposition = response.headers["Content-Disposition"]
        disposition.encode("latin-1")  # what a server can put on the wire
        kind, params = parse_options_header(disposition)
        assert kind == "attachment" and "filename*=UTF-8''" in disposition, disposition
        ascii_part = disposition.split("filename=", 1)[1].split("; filename*=")[0]
        assert parse_options_header(f"attachment; filename={ascii_part}")[1]["filename"] == fallback, disposition
        assert params["filename"] == _printable_stem(name) + ".protected.png", disposition  # filename* wins


def _printable_stem(name: str) -> str:
    from pathlib import PurePath

    stem = PurePath(name.replace("\\", "/")).stem
    return "".join(c if c.isprintable() else "_" for c in stem)


def test_a_negative_or_absurd_max_size_is_a_bad_option(client):
    data = encode(natural_photo("coffee", (64, 48)))
    for value in ("-5", "-1", "1.5", "abc"):
        response = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(data, max_size=value))
        assert response.status_code == 400, value
        assert response.get_json()["error"]["code"] == "bad_option", value
    ok = client.post("/v1/jobs", base_url=BASE, headers=auth(), data=photo(data, max_size="0", steps="1"))
    assert ok.status_code == 202


def test_synchronous_waiters_are_capped_so_quick_requests_keep_their_threads(make_app):
    import threading

    app = make_app(threads=5)  # one thread may wait on /v1/protect, four stay free
    client = app.test_client()
    long_photo = photo(encode(natural_photo("coins")), "coins.png", site="facebook", epsilon="1")
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        app.test_client().post("/v1/protect", base_url=BASE, headers=auth(), data=long_photo)))
    waiter.start()
    jobs = app.extensions["imageprotector.jobs"]
    deadline = time.monotonic() + 60
    while jobs.running is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = client.post("/v1/protect", base_url=BASE, headers=auth(),
                         data=photo(encode(natural_photo("coffee", (64, 48))), steps="2"))
    assert second.status_code == 503 and second.get_json()["error"]["code"] == "busy"
    assert int(second.headers["Retry-After"]) >= 1 and "/v1/jobs" in second.get_json()["error"]["message"]
    assert jobs.queue_length == 0  # refused before it took a place in the queue
    jobs.cancel(jobs.running.id)
    waiter.join(60)
    assert answers[0].status_code == 409 and answers[0].get_json()["error"]["code"] == "cancelled"


def test_hello_proves_the_server_knows_the_token_without_revealing_it(client):
    from companion.server.auth import server_proof
    from tests.server.conftest import TOKEN

    nonce = "00112233445566778899aabbccddeeff"
    response = client.get(f"/v1/hello?nonce={nonce}", base_url=BASE)  # no token: the client sends none yet
    body = response.get_json()
    assert response.status_code == 200 and body["server"] == "imageprotector"
    assert body["proof"] == server_proof(TOKEN, 8765, nonce)
    assert body["proof"] != server_proof(TOKEN, 8766, nonce)  # bound to the port the client dialled
    assert body["proof"] != server_proof("another-token", 8765, nonce)
    assert TOKEN not in response.get_data(as_text=True)
    for bad in ("", "xyz", "00" * 7, "00" * 65):
        refused = client.get(f"/v1/hello?nonce={bad}", base_url=BASE)
        assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_nonce", bad


def test_uploads_stay_in_memory(client):
    """No temporary file is opened while a multi-megabyte upload is parsed (werkzeug spools
    anything over 500 KB to disk by default)."""
    import numpy as np
    from PIL import Image

    from tests.server.conftest import multipart

    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise))
    assert len(data) > 2 * 2**20
    body, kind = multipart(data, "big.png", steps="1")  # bytes: the test client itself spools nothing
    opened = _record_file_opens()
    opened.clear()
    _RECORDING[0] = True
    try:
        response = client.post("/v1/jobs", base_url=BASE, headers={**auth(), "Content-Type": kind}, data=body)
    finally:
        _RECORDING[0] = False
    assert response.status_code == 202
    written = [(path, mode) for path, mode in opened if mode and any(c in str(mode) for c in "wax+")]
    assert not written, written


_RECORDING = [False]
_OPENED: list = []


def _record_file_opens() -> list:
    """Every file opened for writing while _RECORDING (an audit hook: installed once, never removed)."""
    import os
    import sys

    if not getattr(_record_file_opens, "installed", False):
        def hook(event: str, args: tuple) -> None:
            if _RECORDING[0] and event == "open":
                path, mode, flags = args
                writes = isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
                if (mode and any(c in mode for c in "wax+")) or writes:
                    _OPENED.append((path, mode or f"flags={flags:#o}"))

        sys.addaudithook(hook)
        _record_file_opens.installed = True
    return _OPENED
