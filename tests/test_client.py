"""The companion client: a real server round trip, and every failure as its documented code."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from companion.client import Companion, CompanionError
from tests.conftest import encode, natural_photo
from tests.server.conftest import RealServer, fake_server, free_port, private_config


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    yield from private_config(tmp_path / "config", monkeypatch)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    real = RealServer(tmp_path_factory.mktemp("client") / "config")
    yield real
    real.stop()


def test_a_photo_goes_in_and_comes_back_protected_with_its_progress(server):
    seen = []
    result = Companion(server.port, server.token).protect(
        encode(natural_photo("coffee", (64, 48))), "café.png", "image/png", on_progress=seen.append, steps=3)
    assert Image.open(io.BytesIO(result.data)).size == (64, 48)
    assert result.name == "café.protected.png" and result.mime == "image/png"
    assert result.receipt and seen and seen[-1]["state"] == "done"


def test_the_servers_own_errors_keep_their_codes(server):
    client = Companion(server.port, server.token)
    with pytest.raises(CompanionError) as info:
        client.submit(b"not a photo at all", "notes.jpg")
    assert info.value.code == "not_an_image" and info.value.status == 400
    with pytest.raises(CompanionError) as info:
        client.job("no-such-job")
    assert info.value.status == 404


def test_a_cancelled_photo_is_cancelled_on_the_server_too(server):
    client = Companion(server.port, server.token)
    ids = []

    def note(job):
        ids.append(job["id"])

    with pytest.raises(CompanionError) as info:
        client.protect(encode(natural_photo("coins")), "coins.png", on_progress=note,
                       cancelled=lambda: bool(ids), epsilon=1, steps=200)
    assert info.value.code == "cancelled"
    deadline = time.monotonic() + 30  # the attack stops between steps
    while client.job(ids[0])["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.job(ids[0])["state"] == "cancelled"


def test_a_wrong_token_is_never_sent_and_reads_unauthorized(server):
    with pytest.raises(CompanionError) as info:
        Companion(server.port, "not-the-token").submit(encode(natural_photo("coffee", (32, 24))))
    assert info.value.code == "unauthorized"


def test_nothing_listening_is_companion_unreachable():
    with pytest.raises(CompanionError) as info:
        Companion(free_port(), "t").health()
    assert info.value.code == "companion_unreachable"


def test_an_impostor_on_the_port_never_learns_the_token():
    """A program that took the port first answers everything as if it were ours."""
    heard: list[dict] = []
    body = json.dumps({"server": "imageprotector", "proof": "0" * 64}).encode()
    with fake_server(200, body, heard=heard) as port:
        with pytest.raises(CompanionError) as info:
            Companion(port, "secret-token").submit(b"x")
    assert info.value.code == "unauthorized"
    assert heard and all("secret-token" not in json.dumps(h) for h in heard)
