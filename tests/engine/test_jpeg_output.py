"""JPEG output stays within epsilon of the original even where the codec alone moves pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from companion.engine import imageio, quality
from companion.engine.protect import _encode_within, _jpeg_quality
from tests.conftest import encode, natural_photo


def decoded_jpeg(name: str) -> Image.Image:
    return Image.open(io.BytesIO(encode(natural_photo(name), "JPEG", quality=92))).convert("RGB")


def test_quality_95_is_kept_where_the_photo_survives_it():
    assert _jpeg_quality(decoded_jpeg("moon"), 8) == 95


def test_a_higher_quality_where_95_alone_moves_the_photo_too_far():
    base = decoded_jpeg("retina")
    moved = quality.linf(base, imageio.decode_rgb(imageio.encode(base, "jpeg", quality=95)))
    assert moved > 4  # saturated red edges: quality 95 alone uses most of the budget
    assert _jpeg_quality(base, 8) > 95


def test_encoded_file_is_within_epsilon():
    base = decoded_jpeg("retina")
    rng = np.random.default_rng(0)
    # a blocky +-8 perturbation, the kind the attack makes through a downscaling resize
    blocks = rng.choice([-8, 8], size=(base.height // 16 + 1, base.width // 16 + 1, 3))
    delta = np.kron(blocks, np.ones((16, 16, 1)))[: base.height, : base.width]
    protected = Image.fromarray(np.clip(np.asarray(base, np.int16) + delta, 0, 255).astype(np.uint8))
    data = _encode_within(base, protected, "jpeg", 8, None, None, _jpeg_quality(base, 8))
    assert quality.linf(base, imageio.decode_rgb(data)) <= 8
