"""Distances between the original and the protected photo, as receipts report them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from companion.engine import quality
from tests.conftest import natural_photo


@pytest.mark.parametrize("name, size", [("astronaut", (160, 120)), ("coffee", (64, 48)), ("coins", (7, 30))])
def test_ssim_is_scikit_images_definition(name, size):
    from skimage.metrics import structural_similarity

    original = natural_photo(name, size)
    noisy = np.asarray(original, np.int16) + np.random.default_rng(0).integers(-8, 9, (size[1], size[0], 3))
    protected = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
    expected = structural_similarity(np.asarray(original), np.asarray(protected), channel_axis=2, data_range=255)
    assert quality.ssim(original, protected) == pytest.approx(expected, abs=1e-9)


def test_ssim_of_identical_photos_is_one_and_tiny_photos_have_none():
    photo = natural_photo("coffee", (40, 30))
    assert quality.ssim(photo, photo) == pytest.approx(1.0)
    tiny = natural_photo("coffee", (6, 6))
    assert quality.ssim(tiny, tiny) == 1.0
    assert math.isnan(quality.ssim(tiny, Image.new("RGB", (6, 6))))
