"""The InstructBLIP adapter must feed the model what InstructBlipProcessor would.

Pixels against the family's image processor (BLIP's, which squashes the whole frame to a
square), token ids in both tokenizers against the processor itself, and the model's loss
on our pixel values against its loss on the processor's.
"""

from __future__ import annotations

import pytest
import torch

from companion.engine.imageio import to_tensor
from companion.engine.targets import REFUSALS
from companion.models.registry import load_adapter
from tests.conftest import natural_photo

# Pillow rounds after each of its two resize passes and we cannot (tests/models/test_llava.py).
MAX_DIFF = 1.5 / 255
MEAN_DIFF = 0.35 / 255
LOSS_TOLERANCE = 0.01  # relative: the rounding above, through the model

PHOTOS = [("astronaut", (64, 64)), ("chelsea", None), ("coffee", (4000, 3000)), ("rocket", (427, 640)),
          ("retina", (63, 65)), ("astronaut", (1500, 200)), ("chelsea", (56, 1400))]


@pytest.fixture(scope="module")
def blip():
    return load_adapter("demo-instructblip", device="cpu")


@pytest.mark.parametrize("name,size", PHOTOS)
def test_pixel_values_match_the_processor(blip, name, size):
    image = natural_photo(name, size)
    ref = blip.processor.image_processor(image, return_tensors="pt")["pixel_values"]
    ours = blip.pixel_values(to_tensor(image))
    assert ours.shape == ref.shape == (1, 3, *blip.size)
    std = torch.tensor(blip.processor.image_processor.image_std).view(1, 3, 1, 1)
    diff = ((ours - ref) * std).abs()
    assert diff.max() <= MAX_DIFF, f"max difference {diff.max() * 255:.2f}/255"
    assert diff.mean() <= MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"


def test_token_ids_in_both_tokenizers_equal_the_processors(blip):
    questions = ["Who is in this image?", "Describe this image in detail."]
    batch = blip.encode([(q, REFUSALS[0]) for q in questions])
    for row, question in enumerate(questions):
        ref = blip.processor(images=natural_photo("astronaut"), text=question, return_tensors="pt")
        prompt = ref["input_ids"][0].tolist()
        assert prompt.count(blip.image_token_id) == blip.num_query_tokens
        assert batch.input_ids[row, : len(prompt)].tolist() == prompt
        qformer = ref["qformer_input_ids"][0].tolist()
        assert batch.qformer_input_ids[row, : len(qformer)].tolist() == qformer
        assert batch.qformer_attention_mask[row].sum() == len(qformer)  # right-padded
        answer = batch.input_ids[row][batch.labels[row] != -100]
        assert blip.tokenizer.decode(answer, skip_special_tokens=True).strip() == REFUSALS[0]
        assert answer[-1].item() == blip.tokenizer.eos_token_id


@pytest.mark.parametrize("name,size", PHOTOS)
def test_loss_on_our_pixels_equals_loss_on_the_processors(blip, name, size):
    image = natural_photo(name, size)
    batch = blip.encode([("Describe this image in detail.", REFUSALS[0])])
    ref = blip.processor.image_processor(image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ours = blip.loss(blip.pixel_values(to_tensor(image)), batch)
        theirs = blip.loss(ref, batch)
    assert abs(float(ours) - float(theirs)) <= LOSS_TOLERANCE * max(1.0, float(theirs))


def test_the_question_reaches_the_image_features(blip):
    pixels = blip.pixel_values(to_tensor(natural_photo("chelsea")))
    with torch.no_grad():
        who = blip.image_features(pixels, ["Who is this?"])
        where = blip.image_features(pixels, ["Where was this photo taken?"])
    assert who.shape == (1, blip.num_query_tokens, blip.model.config.text_config.hidden_size)
    assert not torch.allclose(who, where)  # the Q-Former reads the instruction


def test_loss_reaches_every_pixel(blip):
    x = to_tensor(natural_photo("chelsea", (451, 300))).requires_grad_(True)
    loss = blip.loss(blip.pixel_values(x), blip.encode([("Who is this?", REFUSALS[0])] * 2))
    loss.backward()
    assert torch.isfinite(loss)
    assert (x.grad.abs().sum(1) > 0).float().mean() > 0.99  # squashed, not cropped: every pixel is seen


def test_answers_from_pixels_equal_answers_through_the_processor(blip):
    image = natural_photo("rocket", (427, 640))
    questions = ["What is in this image?", "What color is the background?", "Who is this person?"]
    via_processor = blip.answer(image, questions)
    via_pixels = blip.generate_from_pixels(blip.pixel_values(to_tensor(image)), questions)
    assert via_processor == via_pixels
    assert via_processor == [blip.answer(image, [q])[0] for q in questions]  # batching changes nothing
