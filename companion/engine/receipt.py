"""The receipt: what was verified about a protected file, not what was hoped.

The saved bytes are decoded again and given to each model through its family's real
Hugging Face processor (never our differentiable path); the model answers the held-out
questions greedily and the judge counts refusals.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from companion.engine.judge import is_refusal
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


def verify(
    data: bytes, adapters: Sequence[Adapter], questions: Sequence[str] = HELD_OUT_QUESTIONS
) -> list[ModelReceipt]:
    """Ask each adapter `questions` about the image encoded in `data`."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    receipts = []
    for adapter in adapters:
        answers = adapter.answer(image, list(questions))
        rate = sum(is_refusal(a) for a in answers) / len(answers)
        receipts.append(ModelReceipt(adapter.name, rate, list(zip(questions, answers))))
    return receipts
