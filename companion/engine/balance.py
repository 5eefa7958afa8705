"""How much of each attack step each model of an ensemble gets.

Each model's gradient is first scaled to a mean magnitude of 1 (attack._gradient), so that
no model decides the step by the scale of its gradient alone. Then it is weighted by how
far the model still is from refusing: its loss as a share of its loss at the first step,
over the mean share. All weigh the same at first; a model that already refuses (its loss
near 0) steps aside for those that do not yet, and has its say back as soon as its loss
rises. Measured on astronaut for instagram with the three demo families, 200 steps: equal
weights left Qwen's demo refusing 0.85 of held-out questions after the site's worst
pipeline, weights by progress 1.00 for all three (benchmarks/robust_photos.py has the
full set).

That rule has one blind spot: a model the budget cannot move at all keeps its whole
share, the largest, for ever, and the models that could still be moved get the rest.
So after `patience` steps a model whose loss has not come down to OUT_OF_REACH of its
first (smoothed over the steps, since each step draws new questions and views) is out
of reach for the rest of the protection, and leaves the step to the others, as long as
one of them is still on its way (its loss between DONE and OUT_OF_REACH of its first).
When the others refuse already, a model short of its line keeps the step, however slowly
it moves: nobody else needs it.

Measured on retina for instagram with the four demo families (benchmarks/robust_photos.py
--photo retina -v): the tiny Qwen, which does not refuse retina even alone, kept 0.70-0.90
of its first loss and took 0.5-0.8 of every step, and Phi-4 refused 0.14 of the held-out
questions after the site. Out of reach from step 40 (its smoothed loss 0.72 of its first,
Phi-4's 0.4), it left Phi-4 0.8 of the step and Phi-4 refused 0.50 (0.36 with a patience
of 80). Every photo of that run the four could all refuse passed in at most 36 steps, so
the rule changes nothing for them; on astronaut, where Qwen refuses 0.6-0.7, its loss
stays near 0.45 of its first, under OUT_OF_REACH.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

#: A model whose smoothed loss is still this share of its first after `patience` steps is out of reach.
OUT_OF_REACH = 0.6
#: A model whose smoothed loss is under this share of its first refuses already (the tiny models: 0.03-0.05).
DONE = 0.1
#: Each step's share of a model's loss enters the smoothed share with weight 1 - SMOOTHING.
SMOOTHING = 0.9


class Balance:
    """Each model's weight in a step, from its losses so far (one instance per protection)."""

    def __init__(self, names: Sequence[str], patience: int | None) -> None:
        """`patience`: the steps a model is given before it can be judged out of reach
        (None: never); well over the smoothing's memory (about ten steps), so that the
        first step's full share has faded from every model's smoothed loss by then."""
        self.names = list(names)
        self.patience = patience
        self.first: list[float] | None = None  # each model's loss at the first step
        self.smoothed = [1.0] * len(self.names)  # each model's loss as a share of its first, smoothed
        self.out: list[bool] = [False] * len(self.names)
        self.left: list[float] = [1.0] * len(self.names)  # each model's loss as a share of its first, this step

    def weights(self, losses: Sequence[float], step: int, track: bool = True) -> list[float]:
        """The weights (mean 1 over the models that take part) for a step with `losses`;
        `track` False weighs a second gradient of the same step without counting it again."""
        if self.first is None:
            self.first = list(losses)
        self.left = left = [loss / max(first, 1e-12) for loss, first in zip(losses, self.first)]
        if track:
            self.smoothed = [SMOOTHING * s + (1 - SMOOTHING) * share for s, share in zip(self.smoothed, left)]
            on_its_way = [not out and DONE <= s < OUT_OF_REACH for out, s in zip(self.out, self.smoothed)]
            if self.patience is not None and step >= self.patience and any(on_its_way):
                for i, s in enumerate(self.smoothed):
                    if not self.out[i] and s >= OUT_OF_REACH:
                        self.out[i] = True
                        log.info("%s is out of reach after %d steps (its loss still %.2f of its first): "
                                 "it leaves the step to the others", self.names[i], step, s)
        taking = [share for share, out in zip(left, self.out) if not out]
        mean = sum(taking) / len(taking)
        return [0.0 if out else (share / mean if mean > 0 else 1.0) for share, out in zip(left, self.out)]
