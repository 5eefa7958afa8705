"""Jobs: a bounded queue and the one worker thread that owns the models and the accelerator.

A job is submitted (refused with QueueFull when `size` jobs already wait; a cancelled job
leaves the queue at once), runs when the worker takes it, reports progress from the
engine's steps, and can be cancelled while queued or running (the engine polls between
steps). Finished jobs keep their result for `ttl` seconds and within `max_bytes` in all,
oldest dropped first; nothing is written to disk, so a killed server leaves nothing stale
behind.

Whatever loading the models raises (our own error, a corrupt weights file, CUDA out of
memory, an OSError) is kept as `load_error` for health to report, fails the jobs with
`model_unavailable`, and never ends the worker; the next job tries to load again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from companion.engine.attack import StepInfo
from companion.engine.errors import ProtectError
from companion.engine.protect import Engine, Protected, ProtectOptions
from companion.models.base import Adapter
from companion.engine.progress import History, Tracker

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class QueueFull(Exception):
    """Too many jobs wait already; the client should retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)  # a job is itself: compared by identity (the queue removes cancelled ones)
class Job:
    id: str
    name: str  # the uploaded file's name, for the result's name
    options: ProtectOptions
    models: list[str]
    data: bytes | None  # dropped once the job has run
    state: str = QUEUED
    step: int = 0
    max_steps: int = 0
    result: Protected | None = None
    error: ProtectError | None = None
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    tracker: Tracker | None = None  # phase, progress and ETA (progress.py)
    used: list[str] = field(default_factory=list)  # the models that protected it

    @property
    def progress(self) -> float:
        if self.state == DONE:
            return 1.0
        if self.tracker is not None:
            return self.tracker.estimate()[0]
        return self.step / self.max_steps if self.max_steps else 0.0

    @property
    def phase(self) -> str:
        if self.state in FINISHED:
            return self.state
        return self.tracker.phase_name if self.tracker is not None else self.state

    def to_dict(self) -> dict:
        progress, eta = (self.tracker.estimate() if self.tracker is not None and self.state not in FINISHED
                         else (self.progress, None))
        out: dict = {"id": self.id, "state": self.state, "phase": self.phase, "progress": round(progress, 4),
                     "step": self.step, "max_steps": self.max_steps, "eta": None if eta is None else round(eta, 1),
                     "name": self.name, "models": self.used or self.models, "site": self.options.site}
        if self.result is not None:
            r = self.result.receipt
            out["receipt"] = {
                "refusal_rate": _number(r.refusal_rate), "site": r.site, "site_refusal_rate": _number(r.site_refusal_rate),
                "protected": r.protected, "psnr": _number(round(r.psnr, 2)),
                "ssim": _number(round(r.ssim, 4)), "linf": r.linf,
                "models": [{"model": m.model, "refusal_rate": m.refusal_rate} for m in r.models],
                "steps": self.result.steps, "seconds": round(self.result.seconds, 2),
                "width": self.result.size[0], "height": self.result.size[1], "format": self.result.format,
            }
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": self.error.message}
        return out


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


class JobQueue:
    """The queue, the worker thread, and the finished jobs kept for their clients."""

    def __init__(
        self,
        load: Callable[[], Sequence[Adapter]],
        size: int = 8,
        ttl: float = 600.0,
        max_bytes: int = 512 * 2**20,
        preload: bool = True,
    ) -> None:
        self._load = load
        self.size = size
        self._queue: deque[Job] = deque()  # guarded by _lock; _ready wakes the worker
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._adapters: list[Adapter] | None = None
        self._load_error: ProtectError | None = None
        self._seconds_per_job = 10.0  # a running estimate for Retry-After
        self._history = History()  # what finished jobs took: the running job's ETA comes from it
        self.ttl, self.max_bytes, self.preload = ttl, max_bytes, preload
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="imageprotector-worker", daemon=True)

    # --- the front side: called from request threads -------------------------------
    def start(self) -> None:
        self._thread.start()

    def cancel_all(self) -> None:
        """Cancel every job: queued ones at once, the running one between its steps."""
        for job in self.jobs():
            self.cancel(job.id)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every job and end the worker (waiting up to `timeout` seconds for it)."""
        self._stop.set()
        self.cancel_all()
        with self._ready:
            self._ready.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, data: bytes, options: ProtectOptions, name: str, models: list[str]) -> Job:
        job = Job(uuid.uuid4().hex, name, options, models, data, max_steps=options.steps)
        job.tracker = Tracker(options.steps, self._history)
        with self._ready:
            self._prune()
            if len(self._queue) >= self.size:
                raise QueueFull(self.retry_after())
            self._queue.append(job)
            self._jobs[job.id] = job
            self._ready.notify()
        log.info("job %s queued (%d bytes)", job.id, len(data))  # the name stays private
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.state not in FINISHED:
            job.cancel.set()
            with self._lock:  # the worker takes a job from the queue under the same lock
                queued = job.state == QUEUED
                if queued and job in self._queue:  # its place is free at once (the worker may hold it already)
                    self._queue.remove(job)
            if queued:
                self._finish(job, CANCELLED)
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free (at least 1)."""
        return max(1, math.ceil(self._seconds_per_job))

    @property
    def queue_length(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def running(self) -> Job | None:
        return next((j for j in self.jobs() if j.state == RUNNING), None)

    @property
    def adapters(self) -> list[Adapter] | None:
        return self._adapters

    @property
    def load_error(self) -> ProtectError | None:
        return self._load_error

    # --- the worker ------------------------------------------------------------------
    def _ensure_loaded(self) -> list[Adapter]:
        """The adapters, loaded on first use; any failure becomes ProtectError("model_unavailable")."""
        if self._adapters is None:
            started = time.monotonic()
            try:
                adapters = list(self._load())
            except Exception as exc:  # a corrupt file, CUDA out of memory, an OSError: all reported alike
                reason = exc.message if isinstance(exc, ProtectError) else f"{type(exc).__name__}: {exc}"
                self._load_error = ProtectError("model_unavailable", f"the model could not be loaded: {reason}")
                log.error("cannot load the models: %s", reason)
                raise self._load_error from None
            self._adapters, self._load_error = adapters, None
            log.info("models loaded in %.1f s: %s", time.monotonic() - started, [a.name for a in adapters])
        return self._adapters

    def _work(self) -> None:
        if self.preload:
            try:
                self._ensure_loaded()
            except ProtectError:
                pass  # reported by health; each job tries again
        while True:
            with self._ready:
                while not self._queue and not self._stop.is_set():
                    self._ready.wait()
                if self._stop.is_set():
                    return
                job = self._queue.popleft()
                # cancel() decides queued-or-running under the same lock
                runnable = job.state == QUEUED and not job.cancel.is_set()
                if runnable:
                    job.state, data = RUNNING, job.data
            if runnable:
                self._run(job, data)
            else:
                self._finish(job, CANCELLED)  # a no-op when cancel() has finished it already

    def _run(self, job: Job, data: bytes) -> None:
        started = time.monotonic()

        tracker = job.tracker

        def progress(info: StepInfo) -> None:
            job.step, job.max_steps = info.step, info.max_steps
            tracker.on_step(info.step, info.max_steps, info.seconds)

        try:
            adapters = self._ensure_loaded()
            chosen = [a for a in adapters if a.name in job.models] if job.models else adapters
            job.used = [a.name for a in chosen]
            job.result = Engine(chosen).protect(data, job.options, progress, job.cancel.is_set, phase=tracker.phase)
            tracker.phase("done")
            self._history.record(tracker)
            state = DONE
        except ProtectError as exc:
            state = CANCELLED if exc.code == "cancelled" else FAILED
            job.error = None if state == CANCELLED else exc
        except Exception as exc:  # a bug must fail one job, never the worker
            log.exception("job %s failed", job.id)
            job.error, state = ProtectError("internal", f"internal error: {type(exc).__name__}"), FAILED
        seconds = time.monotonic() - started
        self._seconds_per_job = 0.7 * self._seconds_per_job + 0.3 * seconds
        self._finish(job, state)
        log.info("job %s %s in %.1f s", job.id, state, seconds)

    def _finish(self, job: Job, state: str) -> None:
        with self._lock:
            if job.state in FINISHED:
                return
            job.state, job.finished, job.data = state, time.monotonic(), None
            job.done.set()

    def _prune(self) -> None:
        """Drop finished jobs past their time, then the oldest while results exceed max_bytes."""
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if job.finished is not None and now - job.finished > self.ttl:
                del self._jobs[job_id]
        finished = sorted((j for j in self._jobs.values() if j.result is not None), key=lambda j: j.finished)
        total = sum(len(j.result.data) for j in finished)
        while finished and total > self.max_bytes:
            oldest = finished.pop(0)
            total -= len(oldest.result.data)
            del self._jobs[oldest.id]
