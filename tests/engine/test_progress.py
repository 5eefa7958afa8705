"""A job's phase, progress and ETA: from its own measured steps and what earlier jobs took,
never rising while its last promise stands, and moving through every phase."""

from __future__ import annotations

import math

from companion.engine.progress import History, Tracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def finished_job(history: History, clock: Clock, steps: int, per_step: float, encode: float, verify: float) -> None:
    t = Tracker(200, history, clock=clock)
    t.phase("attacking")
    clock.now += steps * per_step
    t.on_step(steps, 200, steps * per_step)
    t.phase("encoding")
    clock.now += encode
    t.phase("verifying")
    clock.now += verify
    t.phase("done")
    history.record(t)


def test_with_history_the_eta_counts_the_steps_jobs_usually_take_not_the_most_allowed():
    clock, history = Clock(), History()
    for steps in (6, 5, 7):
        finished_job(history, clock, steps, per_step=1.0, encode=0.5, verify=4.0)
    job = Tracker(200, history, clock=clock)
    job.phase("attacking")
    clock.now += 2.0
    job.on_step(2, 200, 2.0)
    progress, eta = job.estimate()
    assert eta == (6 - 2) * 1.0 + 0.5 + 4.0  # not 198 more steps
    assert 0.15 < progress < 0.25  # 2 s of about 10.5
    job.phase("encoding")
    clock.now += 0.2
    assert math.isclose(job.estimate()[1], 0.3 + 4.0)
    job.phase("verifying")
    clock.now += 1.0
    progress, eta = job.estimate()
    assert math.isclose(eta, 3.0) and 0.5 < progress < 0.55  # 3.2 s of 6.2
    job.phase("done")
    assert job.estimate() == (1.0, 0.0)


def test_the_eta_does_not_rise_while_its_promise_stands_and_progress_never_goes_back():
    clock, history = Clock(), History()
    finished_job(history, clock, 10, per_step=1.0, encode=0.0, verify=2.0)
    job = Tracker(200, history, clock=clock)
    job.phase("attacking")
    clock.now += 1.0
    job.on_step(1, 200, 1.0)
    _, first = job.estimate()  # 9 steps + 2 s
    clock.now += 3.0
    job.on_step(2, 200, 4.0)  # slower steps now: the raw estimate would rise
    progress, eta = job.estimate()
    assert eta <= first - 3.0
    seen, etas = [progress], [(clock.now, eta)]
    for step in range(3, 40):  # runs past every estimate: its own evidence lets the ETA grow
        clock.now += 2.0
        job.on_step(step, 200, 4.0 + 2.0 * (step - 2))
        progress, eta = job.estimate()
        seen.append(progress)
        etas.append((clock.now, eta))
    assert seen == sorted(seen) and seen[-1] < 1.0
    rises = [(t0, e0, t1, e1) for (t0, e0), (t1, e1) in zip(etas, etas[1:]) if e1 > e0]
    assert rises  # it did grow, once the job ran past what it had promised
    assert all(e0 - (t1 - t0) <= 0 for t0, e0, t1, e1 in rises)  # and only then


def test_without_history_the_first_job_still_reports_its_phase_and_an_upper_bound():
    clock = Clock()
    job = Tracker(50, History(), clock=clock)
    assert job.estimate() == (0.0, None)  # queued
    job.phase("attacking")
    clock.now += 2.0
    job.on_step(4, 50, 2.0)
    progress, eta = job.estimate()
    assert eta == 0.5 * 46 + 1.0 + 10 * 0.5 and 0 < progress < 0.1
