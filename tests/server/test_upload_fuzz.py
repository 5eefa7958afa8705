"""Fuzzing the upload path: damaged JPEG, PNG, WebP and GIF files posted to /v1/jobs.

Whatever the bytes, the server answers 202 (then the job ends done or failed with a code
other than `internal`) or a 4xx with a JSON error: never a 500, never a hang, and the
worker is still there to run the next photo. Memory stays bounded because nothing is
decoded past the pixel limit, which the test sets small and checks on every result.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import encode, natural_photo
from tests.engine.test_imageio_fuzz import SEEDS, mutations
from tests.server.conftest import BASE, auth

MAX_PIXELS = 64 * 64


@pytest.fixture(scope="module")
def fuzz_app(demo_adapter):
    from companion.server.app import create_app
    from companion.server.config import ServerConfig
    from tests.server.conftest import TOKEN

    app = create_app(ServerConfig(port=8765, max_pixels=MAX_PIXELS, queue_size=64), TOKEN,
                     load=lambda: [demo_adapter])
    yield app
    app.extensions["imageprotector.jobs"].stop()


def wait_finished(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/v1/jobs/{job_id}", base_url=BASE, headers=auth()).get_json()
        if state["state"] not in ("queued", "running"):
            return state
        assert time.monotonic() < deadline, f"job {job_id} hangs: {state}"
        time.sleep(0.05)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_damaged_uploads_get_a_coded_answer_and_the_worker_lives(fuzz_app, fmt):
    import io

    client = fuzz_app.test_client()
    accepted: list[str] = []

    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(mutations(SEEDS[fmt]))
    def post(data: bytes) -> None:
        response = client.post("/v1/jobs", base_url=BASE, headers=auth(),
                               data={"image": (io.BytesIO(data), "fuzz.bin"), "steps": "1", "robust": "false"})
        body = response.get_json()
        assert response.status_code in (202, 400, 413), (response.status_code, body)
        if response.status_code == 202:
            accepted.append(body["id"])
        else:
            assert body["error"]["code"] in ("corrupt", "not_an_image", "unsupported_format", "too_large", "empty")

    post()
    assert accepted, "no mutated file decoded: the worker was never exercised"
    for job_id in accepted:
        state = wait_finished(client, job_id)
        assert state["state"] in ("done", "failed"), state
        if state["state"] == "failed":
            assert state["error"]["code"] != "internal", state
        else:
            assert state["receipt"]["width"] * state["receipt"]["height"] <= MAX_PIXELS
    jobs = fuzz_app.extensions["imageprotector.jobs"]
    assert jobs._thread.is_alive()
    after = client.post("/v1/jobs", base_url=BASE, headers=auth(),
                        data={"image": (io.BytesIO(encode(natural_photo("coffee", (48, 32)))), "ok.png"),
                              "steps": "1"})
    assert wait_finished(client, after.get_json()["id"])["state"] == "done"
