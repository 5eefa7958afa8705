"""A running job's phase, progress and ETA, from what the job has measured and from what
the finished jobs took.

The attack usually stops long before its most steps, so `step / max_steps` says 2% until
the job jumps to done. Here the steps still to come are the history's median (never fewer
than one more, never more than allowed), each costing the job's own measured seconds per
step, plus what encoding and the receipt took on earlier jobs. The ETA never rises while
the last promise still stands: only once the job has run past it (its own new evidence)
does a larger estimate replace it; progress never goes back.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

PHASES = ("queued", "attacking", "encoding", "verifying", "done")
#: before any job has finished: the receipt costs about this many attack steps, encoding a second
PRIOR_VERIFY_STEPS = 10.0
PRIOR_ENCODE_SECONDS = 1.0


@dataclass
class History:
    """The last finished jobs: steps used, seconds per step, seconds encoding and verifying."""

    steps: deque = field(default_factory=lambda: deque(maxlen=20))
    step_seconds: deque = field(default_factory=lambda: deque(maxlen=20))
    encode_seconds: deque = field(default_factory=lambda: deque(maxlen=20))
    verify_seconds: deque = field(default_factory=lambda: deque(maxlen=20))

    def record(self, tracker: "Tracker") -> None:
        if tracker.step:
            self.steps.append(tracker.step)
            self.step_seconds.append(tracker.seconds_per_step)
        self.encode_seconds.append(tracker.spent.get("encoding", 0.0))
        if "verifying" in tracker.spent:
            self.verify_seconds.append(tracker.spent["verifying"])

    @staticmethod
    def _median(values, default: float | None) -> float | None:
        return statistics.median(values) if values else default


@dataclass
class Tracker:
    """One job's timing. `phase()` and `step()` from the worker; `estimate()` from requests."""

    max_steps: int
    history: History
    phase_name: str = "queued"
    step: int = 0
    seconds_per_step: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float | None = None  # when it started running
    phase_started: float | None = None
    spent: dict = field(default_factory=dict)  # phase -> seconds, once left
    _deadline: float | None = None  # what the last ETA promised (monotonic clock)
    _progress: float = 0.0

    def phase(self, name: str) -> None:
        now = self.clock()
        if self.phase_name != "queued" and self.phase_started is not None:
            self.spent[self.phase_name] = self.spent.get(self.phase_name, 0.0) + now - self.phase_started
        elif name != "done":
            self.started = now
        self.phase_name, self.phase_started = name, now

    def on_step(self, step: int, max_steps: int, seconds: float) -> None:
        self.step, self.max_steps = step, max_steps
        self.seconds_per_step = seconds / step if step else None

    @property
    def bounded(self) -> bool:
        """Whether the ETA is only an upper bound (no finished job yet says how many steps a
        photo takes, so it counts the most allowed)."""
        return self.phase_name == "attacking" and not self.history.steps

    def _raw_eta(self, now: float) -> float | None:
        h = self.history
        per_step = self.seconds_per_step or h._median(h.step_seconds, None)
        if per_step is None:
            return None
        encode = h._median(h.encode_seconds, PRIOR_ENCODE_SECONDS)
        verify = h._median(h.verify_seconds, PRIOR_VERIFY_STEPS * per_step)
        in_phase = now - (self.phase_started or now)
        if self.phase_name == "attacking":
            usual = h._median(h.steps, self.max_steps)
            expected = min(self.max_steps, max(self.step + 1, round(usual)))
            return per_step * (expected - self.step) + encode + verify
        if self.phase_name == "encoding":
            return max(0.0, encode - in_phase) + verify
        if self.phase_name == "verifying":
            return max(0.0, verify - in_phase)
        return None

    def estimate(self) -> tuple[float, float | None]:
        """(progress in [0, 1], ETA in seconds or None)."""
        if self.phase_name == "done":
            return 1.0, 0.0
        if self.phase_name == "queued" or self.started is None:
            return 0.0, None
        now = self.clock()
        eta = self._raw_eta(now)
        if eta is None:
            fraction = self.step / self.max_steps if self.max_steps else 0.0
        else:
            if self._deadline is not None and self._deadline > now:
                eta = min(eta, self._deadline - now)  # no rise while the last promise stands
            self._deadline = now + eta
            elapsed = now - self.started
            fraction = elapsed / (elapsed + eta) if elapsed + eta > 0 else 0.0
        self._progress = max(self._progress, min(0.99, fraction))
        return self._progress, eta
