"""The shared answer loss (models/base.py): the model's own loss, without keeping float32
logits of every position for the backward pass."""

from __future__ import annotations

import pytest
import torch

from benchmarks.photos import natural_photo
from companion.engine.imageio import to_tensor
from companion.engine.targets import REFUSALS
from companion.models import registry

PAIRS = [("Who is this?", REFUSALS[0]), ("Where was this taken?", "On a sofa, indoors, in the afternoon.")]


def saved_bytes(compute) -> tuple[torch.Tensor, int]:
    """`compute()`'s result and the bytes autograd kept for its backward pass."""
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = compute()
    return out, sum(saved)


@pytest.mark.parametrize("name", ["demo", "demo-instructblip"])  # the families on the base forward
def test_the_answer_loss_is_the_models_own_loss_and_keeps_no_float32_logits_of_every_position(name):
    adapter = registry.load_adapter(name, device="cpu")
    adapter.model.requires_grad_(False)
    x = to_tensor(natural_photo("chelsea", (160, 120))).requires_grad_(True)
    batch = adapter.encode(PAIRS)

    def own():
        pixels = adapter.pixel_values(x)
        return adapter.model(**adapter.model_inputs(pixels.expand(len(batch), -1, -1, -1), batch))

    (theirs, kept_theirs), (ours, kept_ours) = saved_bytes(own), saved_bytes(
        lambda: adapter.loss(adapter.pixel_values(x), batch))
    assert ours.item() == pytest.approx(theirs.loss.item(), rel=1e-5)
    (grad_theirs,) = torch.autograd.grad(theirs.loss, x)
    (grad_ours,) = torch.autograd.grad(ours, x)
    assert torch.allclose(grad_ours, grad_theirs, rtol=1e-4, atol=1e-9)
    all_logits_float32 = theirs.logits.numel() * 4
    assert kept_ours < kept_theirs - 0.9 * all_logits_float32, (kept_ours, kept_theirs, all_logits_float32)
