"""Activation checkpointing for the attack: fewer activations held, the same gradient.

An attack step keeps, for the backward pass, every intermediate tensor of every layer the
photo's gradient flows through: most of a step's GPU memory on a big photo (the memory
table in the README). With checkpointing, each transformer layer keeps only its input and
runs its forward again during the backward pass: about a third more compute for a fraction
of the memory. The recomputation is the same arithmetic on the same inputs, so the gradient
is the same (tested on every shipped family).

transformers' own switch (`gradient_checkpointing_enable`) acts only in training mode,
which would also turn on dropout in some checkpoints; the attack runs the model in eval
mode, so each layer's forward is wrapped here instead, whatever the mode, and only while
gradients are being recorded (generation and receipts run as before).
"""

from __future__ import annotations

import functools
import logging

import torch
from torch.utils.checkpoint import checkpoint
from transformers.modeling_layers import GradientCheckpointingLayer

log = logging.getLogger(__name__)

#: the names layers take a key-value cache under; a recomputed layer must not write it twice
CACHE_ARGUMENTS = ("past_key_values", "past_key_value", "cache", "layer_past")


def _checkpointed(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)
        for name in CACHE_ARGUMENTS:
            if kwargs.get(name) is not None:
                kwargs[name] = None
        if "use_cache" in kwargs:
            kwargs["use_cache"] = False
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    run.checkpointed = True
    return run


def checkpoint_layers(model: torch.nn.Module) -> int:
    """Recompute each transformer layer of `model` (its language model's, its vision
    tower's, a Q-Former's) in the backward pass instead of keeping its activations.
    Returns how many layers it wrapped; calling it again wraps nothing more."""
    count = 0
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer) and not getattr(module.forward, "checkpointed", False):
            module.forward = _checkpointed(module.forward)
            count += 1
    log.debug("activation checkpointing on %d layers", count)
    return count
