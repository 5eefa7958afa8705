"""Progress on a terminal for long commands: a bar per photo (its phase, step, loss and an
ETA that counts on early stopping, from companion/engine/progress.py), and an overall bar
for a batch. Silent when stderr is not a terminal, with --json, or with -q.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from companion.engine.progress import History, Tracker

BAR = "{percentage:3.0f}%|{bar:24}| {desc}"


class Bars:
    """One per command run: the batch bar, and the history that makes later photos' ETAs."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.enabled = enabled and sys.stderr.isatty()
        self.history = History()
        self.batch = (tqdm(total=total, desc="photos", unit="photo", file=sys.stderr, position=0, leave=False)
                      if self.enabled and total > 1 else None)

    @contextmanager
    def photo(self, name: str, max_steps: int):
        """Yields (progress, phase) callbacks for Engine.protect; the bar closes after."""
        from tqdm import tqdm

        tracker = Tracker(max_steps, self.history)
        name = Path(name).name[:28]  # a photo's file name, not its whole path
        if not self.enabled:
            yield (lambda info: tracker.on_step(info.step, info.max_steps, info.seconds)), tracker.phase
            return
        bar = tqdm(total=100, desc=name, bar_format=BAR, file=sys.stderr, position=1 if self.batch else 0,
                   leave=False)
        loss = [None]
        stop = threading.Event()

        def draw() -> None:
            progress, eta = tracker.estimate()
            bar.n = round(100 * progress)
            parts = [tracker.phase_name]
            if tracker.step:
                parts.append(f"step {tracker.step}")
            if loss[0] is not None:
                parts.append(f"loss {loss[0]:.3f}")
            if eta is not None:  # before any photo has finished, the most steps bound it
                parts.append(f"ETA {'at most ' if tracker.bounded else ''}{_duration(eta)}")
            bar.set_description_str(f"{name}: {', '.join(parts)}", refresh=False)
            bar.refresh()

        def on_step(info) -> None:
            tracker.on_step(info.step, info.max_steps, info.seconds)
            loss[0] = info.loss
            draw()

        def tick() -> None:  # the receipt has no steps: keep the ETA moving meanwhile
            while not stop.wait(0.5):
                draw()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield on_step, lambda name: (tracker.phase(name), draw())
            tracker.phase("done")
            self.history.record(tracker)
        finally:
            stop.set()
            ticker.join()
            bar.close()
            if self.batch is not None:
                self.batch.update(1)

    def close(self) -> None:
        if self.batch is not None:
            self.batch.close()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min {seconds % 60:02d} s"
