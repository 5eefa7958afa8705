"""The receipt: what was verified about a protected file, not what was hoped.

The saved bytes are decoded again and given to each model through its family's real
Hugging Face processor (never our differentiable path); the model answers the held-out
questions greedily and the judge counts refusals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image

from companion.engine import imageio
from companion.engine.judge import MIN_REFUSAL, is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.models.base import Adapter



@dataclass
class ModelReceipt:
    model: str
    refusal_rate: float
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)


@dataclass
class Receipt:
    refusal_rate: float  # the lowest over the models: protection is as good as its weakest link
    models: list[ModelReceipt]
    psnr: float
    linf: int  # /255
    ssim: float = float("nan")  # structural similarity to the original, 1.0 for identical
    site: str | None = None  # the site profile whose pipeline was replayed
    site_refusal_rate: float = float("nan")  # the lowest over the models, after that pipeline
    site_models: list[ModelReceipt] = field(default_factory=list)

    @property
    def protection(self) -> float:
        """The refusal rate that counts: the lower of the file's and the site pipeline's."""
        rates = [r for r in (self.refusal_rate, self.site_refusal_rate) if not math.isnan(r)]
        return min(rates, default=float("nan"))

    @property
    def protected(self) -> bool:
        """Whether the file counts as protected: refused often enough as written and after the site."""
        return self.protection >= MIN_REFUSAL


def verify(
    data: bytes,
    adapters: Sequence[Adapter],
    questions: Sequence[str] = HELD_OUT_QUESTIONS,
    pipeline: Callable[[Image.Image], Image.Image] | None = None,
) -> list[ModelReceipt]:
    """Ask each adapter `questions` about the image encoded in `data`, after `pipeline`
    (for example a site's resize and re-encoding) when one is given."""
    image = imageio.decode_rgb(data)
    return ask(pipeline(image) if pipeline is not None else image, adapters, questions)


def ask(image: Image.Image, adapters: Sequence[Adapter], questions: Sequence[str]) -> list[ModelReceipt]:
    """Each adapter's greedy answers to `questions` about `image`, and its refusal rate."""
    receipts = []
    for adapter in adapters:
        with adapter.resident():
            answers = adapter.answer(image, list(questions))
        rate = sum(is_refusal(a) for a in answers) / len(answers)
        receipts.append(ModelReceipt(adapter.name, rate, list(zip(questions, answers))))
    return receipts
