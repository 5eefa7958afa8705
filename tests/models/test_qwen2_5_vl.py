"""The Qwen2.5-VL adapter must feed the model what Qwen's own processor would.

Pixels: qwen_vision.py's path against the family's image processor (its own test,
test_qwen_vision.py, covers the layout at the released checkpoints' settings; here at the
shipped tiny model's). Tokens: against `Qwen2_5_VLProcessor` itself, which transformers
cannot build without torchvision, so the test lends it a stand-in for the one class it
lacks (`VideoProcessorMixin`, never used for photos). Loss: the model's loss on our pixel
values equals its loss on the processor's.
"""

from __future__ import annotations

import pytest
import torch
import transformers.processing_utils

from companion.engine.imageio import to_tensor
from companion.engine.targets import REFUSALS
from companion.models.qwen2_5_vl import IMAGE_PAD
from companion.models.qwen_vision import patches
from companion.models.registry import load_adapter
from tests.conftest import natural_photo

# Pillow rounds after each of its two resize passes and we cannot (see test_qwen_vision.py).
MAX_DIFF = 1.5 / 255
MEAN_DIFF = 0.35 / 255
# The loss on our pixel values and on the processor's: the rounding above, through the model.
LOSS_TOLERANCE = 0.01

PHOTOS = [("astronaut", (64, 64)), ("chelsea", None), ("coffee", (4000, 3000)), ("rocket", (427, 640)),
          ("retina", (63, 65)), ("astronaut", (1500, 200)), ("chelsea", (56, 1400))]


@pytest.fixture(scope="module")
def qwen():
    return load_adapter("demo-qwen2_5_vl", device="cpu")


@pytest.fixture
def processor(qwen, monkeypatch):
    """The real Qwen2_5_VLProcessor over the shipped model's tokenizer and image processor."""
    from transformers import Qwen2_5_VLProcessor

    stand_in = type("VideoProcessorMixin", (), {})
    monkeypatch.setattr(transformers.processing_utils.transformers_module, "VideoProcessorMixin", stand_in,
                        raising=False)
    return Qwen2_5_VLProcessor(image_processor=qwen.image_processor, tokenizer=qwen.tokenizer,
                               video_processor=stand_in(), chat_template=qwen.template)


def _processed(processor, qwen, image, question: str, answer: str | None = None):
    text = qwen.prompt_text(question) + ("" if answer is None else answer)
    return processor(images=[image], text=[text], return_tensors="pt")


@pytest.mark.parametrize("name,size", PHOTOS)
def test_pixel_values_match_the_processor(qwen, processor, name, size):
    image = natural_photo(name, size)
    ref = _processed(processor, qwen, image, "Who is this?")
    flat, grid = patches(qwen.pixel_values(to_tensor(image)), qwen.vision)
    assert grid.tolist() == ref["image_grid_thw"].tolist()
    std = torch.tensor(qwen.vision.std).repeat_interleave(flat.shape[1] // 3)
    diff = ((flat - ref["pixel_values"]) * std).abs()
    assert diff.max() <= MAX_DIFF, f"max difference {diff.max() * 255:.2f}/255"
    assert diff.mean() <= MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"


@pytest.mark.parametrize("name,size", PHOTOS[:4])
def test_token_ids_equal_the_processors(qwen, processor, name, size):
    image = natural_photo(name, size)
    question, answer = "Who is in this image?", REFUSALS[0]
    ref = _processed(processor, qwen, image, question)["input_ids"][0].tolist()
    pixels = qwen.pixel_values(to_tensor(image))
    ours = qwen.model_inputs(pixels, qwen.encode([(question, answer)]))
    prompt_length = len(ref)
    assert ours["input_ids"][0, :prompt_length].tolist() == ref
    assert ref.count(qwen.pad_id) == qwen.image_tokens(pixels)
    with_answer = _processed(processor, qwen, image, question, answer)["input_ids"][0].tolist()
    assert ours["input_ids"][0].tolist() == with_answer + [qwen.end_id]


def test_the_image_token_count_follows_the_photos_shape(qwen):
    counts = {size: qwen.image_tokens(qwen.pixel_values(torch.rand(1, 3, *size))) for size in
              ((128, 128), (3000, 4000), (1400, 56))}
    assert counts[(128, 128)] == 64
    assert counts[(3000, 4000)] == 54  # 96 x 144 pixels: 6 x 9 tokens
    assert counts[(1400, 56)] < 64 and len(set(counts.values())) == 3


@pytest.mark.parametrize("name,size", PHOTOS)
def test_loss_on_our_pixels_equals_loss_on_the_processors(qwen, processor, name, size):
    image = natural_photo(name, size)
    question, answer = "Describe this image in detail.", REFUSALS[0]
    ref = _processed(processor, qwen, image, question, answer)
    ids = torch.cat([ref["input_ids"], torch.tensor([[qwen.end_id]])], 1)
    labels = torch.full_like(ids, -100)
    prompt = len(_processed(processor, qwen, image, question)["input_ids"][0])
    labels[0, prompt:] = ids[0, prompt:]
    with torch.no_grad():
        theirs = qwen.model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels,
                            pixel_values=ref["pixel_values"], image_grid_thw=ref["image_grid_thw"]).loss
        ours = qwen.loss(qwen.pixel_values(to_tensor(image)), qwen.encode([(question, answer)]))
    assert abs(float(ours) - float(theirs)) <= LOSS_TOLERANCE * max(1.0, float(theirs))


def test_loss_reaches_every_pixel(qwen):
    x = to_tensor(natural_photo("chelsea", (451, 300))).requires_grad_(True)
    loss = qwen.loss(qwen.pixel_values(x), qwen.encode([("Who is this?", REFUSALS[0])] * 2))
    loss.backward()
    assert torch.isfinite(loss)
    assert (x.grad.abs().sum(1) > 0).float().mean() > 0.99  # no crop: the whole frame reaches the model


def test_labels_cover_exactly_the_answer_and_the_turns_end(qwen):
    batch = qwen.encode([("Who is this person?", REFUSALS[0]), ("Where was this photo taken?", REFUSALS[3])])
    expanded = qwen.with_image_tokens(batch, 64)
    for row, target in enumerate((REFUSALS[0], REFUSALS[3])):
        answer = expanded.input_ids[row][expanded.labels[row] != -100]
        assert qwen.tokenizer.decode(answer, skip_special_tokens=True).strip() == target
        assert qwen.tokenizer.convert_ids_to_tokens(answer[-1].item()) == "<|im_end|>"
        assert (expanded.input_ids[row] == qwen.pad_id).sum() == 64
    assert expanded.attention_mask.sum(1).tolist() == (batch.attention_mask.sum(1) + 63).tolist()


def test_answers_from_pixels_equal_answers_through_the_processor(qwen):
    image = natural_photo("rocket", (427, 640))
    questions = ["What is in this image?", "What color is the background?", "Who is this person?"]
    via_processor = qwen.answer(image, questions)
    via_pixels = qwen.generate_from_pixels(qwen.pixel_values(to_tensor(image)), questions)
    assert via_processor == via_pixels
    assert IMAGE_PAD not in " ".join(via_processor)


def test_one_tower_pass_per_step_gives_the_loss_of_one_pass_per_question(qwen):
    pixels = qwen.pixel_values(to_tensor(natural_photo("coffee", (640, 427))))
    batch = qwen.encode([("Who is this?", REFUSALS[0]), ("Where is this?", REFUSALS[1]), ("Describe it.", REFUSALS[2])])
    with torch.no_grad():
        once = qwen.loss(pixels, batch)
        per_row = qwen.model(**qwen.model_inputs(pixels.expand(3, -1, -1, -1), batch)).loss
    assert torch.allclose(once, per_row, atol=1e-5)
