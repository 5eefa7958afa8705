"""Qwen2-VL's differentiable preprocessing against the family's real Hugging Face image
processor (its Pillow backend), on clean photos from 64x64 to 4000x3000 and odd aspect ratios."""

from __future__ import annotations

import pytest
import torch

from companion.engine.imageio import to_tensor
from companion.models.qwen_vision import CLIP_STD, QwenVisionConfig, image_tokens, pixel_values, target_size
from tests.conftest import natural_photo

# As for LLaVA (tests/models/test_llava.py): Pillow rounds to 8 bits after each resize pass
# and we cannot, so the paths differ by rounding, about 0.25/255 on average and under 1.5/255
# at worst, whichever pass Pillow takes first (1500x200 -> 1512x196 goes height first).
MAX_DIFF = 1.5 / 255
MEAN_DIFF = 0.35 / 255


@pytest.fixture(scope="module")
def processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil()


@pytest.mark.parametrize("name,size", [
    ("astronaut", (64, 64)), ("chelsea", None), ("coffee", (4000, 3000)), ("rocket", (427, 640)),
    ("retina", (63, 65)), ("camera", (1500, 200)), ("coffee", (56, 1400)),
])
def test_pixel_values_and_grid_match_the_processor(processor, name, size):
    image = natural_photo(name, size)
    ref = processor(image, return_tensors="pt")
    ours, grid = pixel_values(to_tensor(image), QwenVisionConfig.from_processor(processor))
    assert grid.tolist() == ref["image_grid_thw"].tolist()
    assert ours.shape == ref["pixel_values"].shape
    std = torch.tensor(CLIP_STD).repeat_interleave(2 * 14 * 14)  # each row: C, then t, then the patch
    diff = ((ours - ref["pixel_values"]) * std).abs()  # back in [0, 1] pixel units
    assert diff.max() <= MAX_DIFF, f"max difference {diff.max() * 255:.2f}/255"
    assert diff.mean() <= MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"


def test_the_token_count_follows_the_photos_size():
    assert image_tokens(28 * 20, 28 * 30) == 20 * 30  # each 28 px square: one token after the merger
    assert 1000 < image_tokens(4000, 3000) <= 1280  # capped by max_pixels (28 * 28 * 1280)
    assert image_tokens(64, 64) >= 4  # small photos are enlarged to min_pixels
    assert target_size(4000, 3000)[0] % 28 == 0 and target_size(4000, 3000)[1] % 28 == 0


def test_every_pixel_gets_a_gradient_even_when_the_photo_is_shrunk():
    x = torch.rand(1, 3, 900, 700, requires_grad=True)
    flat, _ = pixel_values(x)
    (flat * torch.randn_like(flat)).sum().backward()
    assert (x.grad.abs() > 0).float().mean() > 0.99
