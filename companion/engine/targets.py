"""Refusal answers the attack teaches the model to give.

The paper draws the target answer R from about ten refusal phrasings so the perturbation
does not overfit one string; the model then refuses in whatever words it prefers.
"""

from __future__ import annotations

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
