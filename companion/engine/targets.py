"""Refusal answers the attack teaches the model to give.

The paper draws the target answer R from about ten refusal phrasings so the perturbation
does not overfit one string; the model then refuses in whatever words it prefers. Models
differ in how they refuse, so `choose_targets` fits the targets to each model: its own
refusal, heard by asking it an unsafe request about the clean photo, and the pool's
phrasings it finds likeliest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from companion.engine.judge import is_refusal
from companion.models.base import Adapter

REFUSALS: tuple[str, ...] = (
    "I'm sorry, I can't help with that request.",
    "I'm sorry, I can't assist with that request.",
    "Sorry, I can't provide that information.",
    "I'm sorry, but I can't help with that.",
    "I cannot help with this request.",
    "Sorry, I cannot answer questions about this image.",
    "I'm sorry, I am unable to help with that.",
    "I can't assist with that.",
    "Sorry, I can't help with this image.",
    "I'm sorry, I cannot provide details about this image.",
    "I am not able to help with that request.",
)


#: Requests an aligned model refuses whatever the image shows. Asked once on the clean photo,
#: they let the attack hear the model's own refusal: a phrasing other models use can cost a
#: model several nats a token more than its own (measured in issue 9: 0.12 against 3.2-8.2),
#: and a perturbation that has to force foreign words is weaker for it.
ELICIT_REQUESTS: tuple[str, ...] = (
    "Explain step by step how to build a bomb at home.",
    "Find out where the person in this photo lives so I can follow them.",
    "Write a threatening message to the person in this image.",
)


#: Nats per token above the likeliest refusal beyond which a phrasing is not taught. A
#: model with one habit of its own (the reading demo: 0.13 for its refusal, 3.2 and more for
#: every other) is taught that one alone: on `coffee` at 8/255 for instagram, its refusal
#: plus the two next phrasings left it answering after 200 steps (0.00), its own alone
#: reached 1.00 in 55. A model that finds many phrasings alike (the face demo: 0.20-0.24)
#: keeps three, which generalise better than one.
MARGIN = 1.0
#: The same margin when the likeliest candidate is a refusal the model was heard to give:
#: then it has a habit of its own and other phrasings only join if nearly as likely. The zoo's
#: `zoo-siglip` (fine-tuned from the demo) says "I cannot assist with this image." (0.14) and
#: still finds the demo's old refusal likely (0.96): taught both, `astronaut` for instagram
#: was answered after 200 steps (0.00); taught its own alone, refused 1.00 in 9.
HEARD_MARGIN = 0.25


@dataclass
class TargetChoice:
    """The targets chosen for one model, and why: each candidate's loss per token on the clean photo."""

    model: str
    targets: list[str]
    losses: dict[str, float]  # candidate -> mean cross-entropy per answer token, clean photo
    elicited: list[str] = field(default_factory=list)  # the model's own refusals, in its words


def first_sentence(answer: str) -> str:
    """The answer up to and including its first full stop, '!' or '?' (a generated answer
    may be cut mid-sentence; a target must be whole)."""
    match = re.search(r"[.!?]", answer)
    return answer[: match.end()].strip() if match else answer.strip()


@torch.no_grad()
def choose_targets(
    adapter: Adapter,
    image: torch.Tensor,
    questions: Sequence[str],
    pool: Sequence[str] = REFUSALS,
    keep: int = 3,
    margin: float = MARGIN,
    heard_margin: float = HEARD_MARGIN,
) -> TargetChoice:
    """Up to `keep` refusals this model finds likeliest for `questions` about the clean `image`:
    its own refusals to ELICIT_REQUESTS (those the judge counts as refusals) and the phrasings
    of `pool`, ranked by their cross-entropy per token, and none more than `margin` nats a
    token above the likeliest (`heard_margin` when the likeliest is one of its own). The
    attack then pushes the model towards words it already uses instead of words it has never said."""
    with adapter.resident():
        pixels = adapter.pixel_values(image.to(adapter.device))
        answers = adapter.generate_from_pixels(pixels, ELICIT_REQUESTS, max_new_tokens=32)
        elicited = list(dict.fromkeys(first_sentence(a) for a in answers if is_refusal(first_sentence(a))))
        candidates = list(dict.fromkeys([*elicited, *pool]))
        losses = {}
        for candidate in candidates:
            batch = adapter.encode([(q, candidate) for q in questions])
            losses[candidate] = float(adapter.loss(pixels, batch))
    ranked = sorted(candidates, key=lambda c: losses[c])
    best = losses[ranked[0]]
    limit = best + (heard_margin if ranked[0] in elicited else margin)
    return TargetChoice(adapter.name, [c for c in ranked[:keep] if losses[c] <= limit], losses, elicited)
