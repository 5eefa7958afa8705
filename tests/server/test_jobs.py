"""The job queue: bounded, cancellable while queued or running, results kept for a while."""

from __future__ import annotations

import time

import pytest

from companion.engine.protect import ProtectOptions
from companion.server.jobs import CANCELLED, DONE, JobQueue, QueueFull
from tests.conftest import encode, natural_photo

SMALL = encode(natural_photo("coffee", (64, 48)))


@pytest.fixture
def queue_of(demo_adapter):
    queues = []

    def make(**kwargs):
        q = JobQueue(lambda: [demo_adapter], **kwargs)
        queues.append(q)
        return q

    yield make
    for q in queues:
        q.stop()


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_full_queue_refuses_with_a_retry_hint(queue_of):
    q = queue_of(size=2)  # not started: nothing leaves the queue
    q.submit(SMALL, ProtectOptions(steps=2), "a.png", [])
    q.submit(SMALL, ProtectOptions(steps=2), "b.png", [])
    with pytest.raises(QueueFull) as info:
        q.submit(SMALL, ProtectOptions(steps=2), "c.png", [])
    assert info.value.retry_after >= 1
    assert q.queue_length == 2


def test_a_running_job_stops_within_a_few_steps_and_the_next_one_runs(queue_of):
    q = queue_of(size=4)
    q.start()
    # at 1/255 no model is moved, so the whole budget runs: long enough to cancel
    slow = q.submit(encode(natural_photo("coins")), ProtectOptions(site="facebook", steps=200, epsilon=1), "coins.png", [])
    after = q.submit(SMALL, ProtectOptions(steps=3, verify=False), "next.png", [])
    wait_until(lambda: slow.step >= 3)
    q.cancel(slow.id)
    at_cancel = slow.step
    wait_until(lambda: slow.done.is_set())
    assert slow.state == CANCELLED and slow.step <= at_cancel + 2, (at_cancel, slow.step)
    assert slow.result is None and slow.data is None
    wait_until(lambda: after.done.is_set())
    assert after.state == DONE and after.result.data


def test_a_queued_job_cancelled_never_runs(queue_of):
    q = queue_of(size=4)
    job = q.submit(SMALL, ProtectOptions(steps=2), "a.png", [])
    assert q.cancel(job.id).state == CANCELLED
    q.start()
    wait_until(lambda: q.queue_length == 0)
    time.sleep(0.3)
    assert job.state == CANCELLED and job.step == 0


def test_finished_results_expire_and_stay_within_their_byte_budget(queue_of):
    q = queue_of(size=4, ttl=3600, max_bytes=1)  # room for no finished file at all but the newest pass
    q.start()
    first = q.submit(SMALL, ProtectOptions(steps=2, verify=False), "a.png", [])
    wait_until(lambda: first.done.is_set())
    second = q.submit(SMALL, ProtectOptions(steps=2, verify=False), "b.png", [])
    wait_until(lambda: second.done.is_set())
    assert q.get(first.id) is None  # dropped to keep results within max_bytes
    q.ttl = 0
    assert q.get(second.id) is None  # and past its time


def test_cancelled_queued_jobs_free_their_places_at_once(queue_of):
    q = queue_of(size=3)  # not started: nothing leaves the queue but by cancelling
    waiting = [q.submit(SMALL, ProtectOptions(steps=2), f"{i}.png", []) for i in range(3)]
    with pytest.raises(QueueFull):
        q.submit(SMALL, ProtectOptions(steps=2), "over.png", [])
    for job in waiting:
        q.cancel(job.id)
    assert q.queue_length == 0
    again = [q.submit(SMALL, ProtectOptions(steps=2), f"again-{i}.png", []) for i in range(3)]
    assert q.queue_length == 3 and all(job.state == "queued" for job in again)


@pytest.mark.parametrize("failure", [RuntimeError("CUDA out of memory"), OSError("disk gone"),
                                     ValueError("bad header in model.safetensors")])
@pytest.mark.parametrize("preload", [True, False])
def test_a_load_that_raises_anything_fails_jobs_and_the_worker_lives(failure, preload):
    def load():
        raise failure

    q = JobQueue(load, size=4, preload=preload)
    q.start()
    try:
        if preload:
            wait_until(lambda: q.load_error is not None, timeout=10)
        first = q.submit(SMALL, ProtectOptions(steps=2), "a.png", [])
        wait_until(first.done.is_set, timeout=10)
        assert first.state == "failed" and first.error.code == "model_unavailable"
        assert str(failure) in first.error.message
        assert q.load_error is not None and str(failure) in q.load_error.message
        second = q.submit(SMALL, ProtectOptions(steps=2), "b.png", [])
        wait_until(second.done.is_set, timeout=10)  # the worker is still there to answer
        assert second.state == "failed" and second.error.code == "model_unavailable"
    finally:
        q.stop()
