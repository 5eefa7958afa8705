"""The demo models' shared training loop: AdamW with warm-up, cosine decay and clipping.

Both demo recipes (the face demo's, `face_train`, and the reading demo's, `reading_train`)
and the zoo's variants train in stages through `optimise`, so that a run is logged and
checked the same way whichever model it builds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)


def lr_lambda(total: int, warmup: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def optimise(params, lr: float, steps: int, batches: Iterator, loss_fn, stage: str, check=None, every: int = 0) -> float:
    """AdamW with warm-up and cosine decay over `steps`; `check(step)`, if given, runs every
    `every` steps (a validation that logs how training goes). Returns the last ten steps' mean loss."""
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(steps, max(1, min(100, steps // 10))))
    running, recent, start = None, [], time.monotonic()
    for step in range(steps):
        loss = loss_fn(next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        recent = (recent + [loss.item()])[-10:]
        if step % 100 == 0 or step == steps - 1:
            log.info("%s step %d/%d loss %.4f (%.0f s)", stage, step + 1, steps, running, time.monotonic() - start)
        if check is not None and every and (step + 1) % every == 0:
            check(step + 1)
    return sum(recent) / len(recent)  # the mean of the last ten steps' losses


def qa_loss(adapter):
    """The language model's loss on a batch of (pixel values, encoded question-answer pairs)."""

    def loss_fn(item) -> torch.Tensor:
        pixel_values, tokens = item
        return adapter.model(**adapter.model_inputs(pixel_values, tokens)).loss

    return loss_fn
