"""The LLaVA adapter's differentiable path must agree with the real processor."""

from __future__ import annotations

import pytest
import torch

from companion.engine.imageio import to_tensor
from companion.engine.targets import REFUSALS
from tests.conftest import natural_photo

# Pillow rounds to 8 bits after each resize pass and we cannot (its gradient is zero), so
# the two paths differ by rounding: about 0.25/255 on average, under 1/255 at worst.
MAX_DIFF = 1.5 / 255
MEAN_DIFF = 0.35 / 255


@pytest.mark.parametrize(
    "name,size",
    [("astronaut", None), ("chelsea", None), ("coffee", (4000, 3000)), ("rocket", (1000, 1500)), ("retina", (63, 65))],
)
def test_pixel_values_match_the_processor(demo_adapter, name, size):
    image = natural_photo(name, size)
    ref = demo_adapter.processor.image_processor(image, return_tensors="pt")["pixel_values"]
    ours = demo_adapter.pixel_values(to_tensor(image))
    assert ours.shape == ref.shape
    std = torch.tensor(demo_adapter.processor.image_processor.image_std).view(1, 3, 1, 1)
    diff = ((ours - ref) * std).abs()  # back in [0, 1] pixel units
    assert diff.max() <= MAX_DIFF, f"max difference {diff.max() * 255:.2f}/255"
    assert diff.mean() <= MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"


def test_gradient_reaches_every_pixel_the_model_sees(demo_adapter):
    # 1200 x 800 -> shortest edge 128 -> 192 x 128 -> centre crop 128 x 128: the middle 800 columns
    x = to_tensor(natural_photo("astronaut", (1200, 800))).requires_grad_(True)
    (demo_adapter.pixel_values(x) * torch.randn(1, 3, 128, 128)).sum().backward()
    seen = x.grad[..., 200:1000].abs() > 0
    assert seen.float().mean() > 0.98
    assert (x.grad[..., :170] == 0).all()  # the crop drops the sides: the model never sees them


def test_prompt_tokens_equal_the_processors(demo_adapter):
    question = "Who is in this image?"
    inputs = demo_adapter.processor(
        images=natural_photo("astronaut"), text=demo_adapter.prompt_text(question), return_tensors="pt"
    )
    assert inputs["input_ids"][0].tolist() == demo_adapter._prompt_ids(question)


def test_labels_cover_exactly_the_answer_and_eos(demo_adapter):
    batch = demo_adapter.encode([("Who is this person?", REFUSALS[0]), ("Where was this photo taken?", REFUSALS[3])])
    for row, target in enumerate((REFUSALS[0], REFUSALS[3])):
        answer = batch.input_ids[row][batch.labels[row] != -100]
        assert demo_adapter.tokenizer.decode(answer, skip_special_tokens=True).strip() == target
        assert answer[-1].item() == demo_adapter.tokenizer.eos_token_id
    assert batch.attention_mask.sum(1).tolist() == [(r != demo_adapter.tokenizer.pad_token_id).sum().item() for r in batch.input_ids]


def test_loss_is_differentiable_in_pixels(demo_adapter):
    x = to_tensor(natural_photo("chelsea")).requires_grad_(True)
    loss = demo_adapter.loss(demo_adapter.pixel_values(x), demo_adapter.encode([("Who is this?", REFUSALS[0])]))
    loss.backward()
    assert torch.isfinite(loss) and x.grad.abs().sum() > 0


def test_answers_from_pixels_equal_answers_through_the_processor(demo_adapter):
    image = natural_photo("rocket")
    questions = ["What is in this image?", "What color is the background?", "Who is this person?"]
    via_processor = demo_adapter.answer(image, questions)
    via_pixels = demo_adapter.generate_from_pixels(demo_adapter.pixel_values(to_tensor(image)), questions)
    assert via_processor == via_pixels
