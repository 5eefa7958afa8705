"""Activation checkpointing: the attack's gradient is the same, fewer activations are held."""

from __future__ import annotations

import pytest
import torch

from benchmarks.photos import natural_photo
from companion.models import registry
from companion.models.checkpointing import checkpoint_layers
from tests.models.test_base import saved_bytes

PAIRS = [("Who is this?", "I'm sorry, I can't help with that request."), ("Where was this taken?", "In Paris.")]


def fresh(name: str):
    """A model of its own (checkpointing changes the loaded model, so never the shared fixture's)."""
    if name == "demo-phi4_multimodal":  # not shipped yet: its untrained build, the real architecture
        from companion.demo import DEMO_MODEL_DIR, phi4_build
        from companion.models.llava import LlavaAdapter

        demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
        return phi4_build.build(demo, seed=0)
    return registry.load_adapter(name, device="cpu")


def gradient_and_saved_bytes(adapter, image: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """The loss's gradient with respect to the photo, the loss, and the bytes autograd kept for the backward pass."""
    x = image.clone().requires_grad_(True)
    batch = adapter.encode(PAIRS)
    loss, held = saved_bytes(lambda: adapter.loss(adapter.pixel_values(x), batch))
    loss.backward()
    return x.grad, loss.item(), held


@pytest.mark.parametrize("name", ["demo", "demo-qwen2_5_vl", "demo-instructblip", "demo-phi4_multimodal"])
def test_checkpointing_keeps_the_gradient_and_holds_less(name):
    adapter = fresh(name)
    adapter.model.requires_grad_(False)
    image = torch.rand(1, 3, 90, 120, generator=torch.Generator().manual_seed(3))
    grad, loss, held = gradient_and_saved_bytes(adapter, image)
    assert checkpoint_layers(adapter.model) > 0
    grad_c, loss_c, held_c = gradient_and_saved_bytes(adapter, image)
    assert loss_c == loss
    assert torch.allclose(grad_c, grad, rtol=1e-5, atol=1e-8), (grad_c - grad).abs().max()
    assert held_c < 0.6 * held, (held_c, held)


def test_checkpointing_leaves_answers_alone_and_wraps_once():
    adapter = fresh("demo")
    photo = natural_photo("astronaut", (160, 160))
    questions = ["Who is this?", "Describe this image."]
    before = adapter.answer(photo, questions)
    layers = checkpoint_layers(adapter.model)
    assert layers == 4 + 4  # the demo's 4 vision and 4 language layers
    assert checkpoint_layers(adapter.model) == 0
    assert adapter.answer(photo, questions) == before


def test_load_adapter_turns_it_on_when_asked():
    wrapped = registry.load_adapter("demo", device="cpu", checkpointing=True)
    plain = registry.load_adapter("demo", device="cpu")
    assert checkpoint_layers(wrapped.model) == 0
    assert checkpoint_layers(plain.model) == 8
