"""A job in the server's queue reports its phase and a progress that moves through all of them."""

from __future__ import annotations

import threading
import time

from companion.engine.protect import ProtectOptions
from companion.server.jobs import JobQueue
from tests.conftest import encode, natural_photo


def test_a_real_job_moves_through_every_phase_and_names_its_models(demo_adapter):
    queue = JobQueue(lambda: [demo_adapter])
    queue.start()
    try:
        photo = encode(natural_photo("astronaut", (96, 72)))
        first = queue.submit(photo, ProtectOptions(site="instagram"), "a.png", [])
        first.done.wait(120)
        job = queue.submit(photo, ProtectOptions(site="instagram", seed=1), "b.png", [])
        seen: list[dict] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                seen.append(job.to_dict())
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        job.done.wait(120)
        stop.set()
        poller.join()
        final = job.to_dict()
    finally:
        queue.stop()
    assert final["state"] == "done" and final["phase"] == "done" and final["progress"] == 1.0
    assert final["models"] == ["demo"]
    phases = [s["phase"] for s in seen]
    assert "attacking" in phases and "verifying" in phases
    running = [s["progress"] for s in seen if s["state"] == "running"]
    assert running == sorted(running)
    assert max(running) > 0.5  # it moved through the phases, not 2% and then done
    etas = [s["eta"] for s in seen if s["state"] == "running" and s["eta"] is not None]
    assert etas and max(etas) < 60  # from the first job's figures, not 200 steps' worth
