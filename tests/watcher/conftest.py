"""Watcher tests: a recording stand-in for the engine, a fixture that fails any test that
leaves a thread running, and small photos."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest
from PIL import Image

from companion.client import Result
from watcher.folders import Folder
from watcher.service import Watcher
from watcher.state import State
from watcher.worker import ProtectFailed


@pytest.fixture(autouse=True)
def no_thread_leaks():
    """Every thread a test starts must be gone when it ends (watchdog's observer and
    emitters, the worker)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {[t.name for t in left]}")


def photo(seed: int, size=(48, 32), fmt: str = "PNG") -> bytes:
    """A small photo unique to `seed`."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((seed % size[0], (seed // size[0]) % size[1]), (255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


class Recorder:
    """Stands in for the companion: checks each photo decodes whole (a half-written file
    would not), records it, and returns it re-encoded with a receipt."""

    def __init__(self, delay: float = 0.0, fail: dict | None = None, during=None) -> None:
        self.calls: list[tuple[str, str]] = []  # (name, sha256 of what it was given)
        self.half_written: list[str] = []
        self.delay = delay
        self.fail = dict(fail or {})  # name -> [codes to raise, one per call]
        self.during = during  # called with the name while "protecting" (to change the source meanwhile)
        self._lock = threading.Lock()

    def __call__(self, data: bytes, name: str, mime: str, site: str | None) -> Result:
        with self._lock:
            self.calls.append((name, hashlib.sha256(data).hexdigest()))
            codes = self.fail.get(name)
            code = codes.pop(0) if codes else None
        if self.during is not None:
            self.during(name)
        if self.delay:
            time.sleep(self.delay)
        if code:
            raise ProtectFailed(code, f"stand-in {code}")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception:  # noqa: BLE001
            with self._lock:
                self.half_written.append(name)
            raise ProtectFailed("bad_image", "not a whole photo") from None
        image.putpixel((0, 0), (1, 2, 3))
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "PNG")
        return Result(buf.getvalue(), "image/png", name.rsplit(".", 1)[0] + ".protected.png",
                      {"refusal_rate": 1.0, "site_refusal_rate": 1.0, "psnr": 48.0, "protected": True})

    def count(self, name: str) -> int:
        with self._lock:
            return sum(1 for n, _ in self.calls if n == name)


def wait_until(predicate, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {timeout} s")


@pytest.fixture
def watch(tmp_path):
    """Start watchers on folders with a stand-in; all stopped after the test."""
    started: list[tuple[Watcher, State]] = []

    def start(folder, protector, recursive: bool = False, out_dir=None, **options) -> tuple[Watcher, State]:
        options = {"settle": 0.3, "backoff": 0.2, **options}
        state = State(tmp_path / "state" / "watcher.sqlite3")
        watcher = Watcher([Folder.make(folder, out_dir, recursive)], protector, state, **options).start()
        started.append((watcher, state))
        return watcher, state

    def stop_all() -> None:
        while started:
            watcher, state = started.pop()
            watcher.stop()
            state.close()

    start.stop_all = stop_all
    yield start
    stop_all()
