"""`imageprotector watch` as a user runs it, against the real companion with the demo model:
a burst of photos protected end to end, a SIGKILL in the middle survived, SIGTERM clean."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import encode, natural_photo
from tests.server.conftest import RealServer, private_config
from tests.watcher.conftest import wait_until

SCENES = ("astronaut", "coffee", "chelsea", "camera", "stereo_motorcycle")


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    yield from private_config(tmp_path / "config", monkeypatch)


@pytest.fixture(scope="module")
def companion(tmp_path_factory):
    real = RealServer(tmp_path_factory.mktemp("watch") / "config")
    (real.config_dir / "config.json").write_text(json.dumps({"port": real.port, "autostart": False}))
    yield real
    real.stop()


def start_watch(companion, folder, data_dir, log, *args):
    env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": str(companion.config_dir), "IMAGEPROTECTOR_DATA_DIR": str(data_dir),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "companion.cli", "-v", "watch", str(folder), "--settle", "0.3", *args],
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)


def written(log) -> list[str]:
    """The photos a run logged as protected (or reused), in order."""
    return re.findall(r"/([^/\s]+) -> \S+ \((?:refused|protected|same photo)", log.read_text()) if log.exists() else []


def test_a_burst_survives_sigkill_and_each_photo_is_protected_once(companion, tmp_path):
    folder, data_dir = tmp_path / "photos", tmp_path / "data"
    folder.mkdir()
    names = [f"p{i:02d}.jpg" for i in range(20)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(encode(natural_photo(SCENES[i % len(SCENES)], (64 + i, 48)), "JPEG", quality=90))
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_watch(companion, folder, data_dir, first_log)
    try:
        wait_until(lambda: len(written(first_log)) >= 5, 300, "five photos protected")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    before = set(written(first_log))
    assert len(before) < 20  # killed in the middle
    second = start_watch(companion, folder, data_dir, second_log)
    try:
        wait_until(lambda: set(written(first_log)) | set(written(second_log)) >= set(names), 600, "all 20 protected")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0  # a clean stop
    after = written(second_log)
    assert not before & set(after)  # none done before the kill was done again
    assert sorted(after) == sorted(set(after))  # nor twice in the second run
    out = folder / "protected"
    assert sorted(p.name for p in out.iterdir()) == names  # no temporary file left behind
    for name in names[:5]:
        Image.open(io.BytesIO((out / name).read_bytes())).load()
    assert "watcher stopped" in second_log.read_text()
    status = subprocess.run([sys.executable, "-m", "companion.cli", "watch", "--status", "--json"], capture_output=True,
                            text=True, env={**os.environ, "IMAGEPROTECTOR_DATA_DIR": str(data_dir)}, timeout=60)
    summary = json.loads(status.stdout)
    assert summary["folders"][str(folder)] == {"done": 20}


def test_serve_watch_protects_through_the_servers_own_queue(tmp_path, monkeypatch):
    folder = tmp_path / "to-post"
    folder.mkdir()
    monkeypatch.setenv("IMAGEPROTECTOR_DATA_DIR", str(tmp_path / "data"))
    server = RealServer(tmp_path / "server-config", None, "--watch", str(folder))
    try:
        (folder / "me.jpg").write_bytes(encode(natural_photo("astronaut", (64, 48)), "JPEG", quality=90))
        wait_until(lambda: (folder / "protected" / "me.jpg").exists(), 120, "the photo protected")
        Image.open(folder / "protected" / "me.jpg").load()
    finally:
        server.stop()
    assert server.proc.returncode == 0
    text = server.log.read_text()
    assert "watching" in text and "me.jpg -> " in text and "watcher stopped" in text
