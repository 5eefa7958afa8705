"""Framings: the whole photo reaches the model, padded or cropped anywhere."""

from __future__ import annotations

import random

import torch

from companion.engine.framing import PAD_COLOR, frame_view, padded, square_at


def test_padding_keeps_the_whole_frame_centred_on_a_square():
    image = torch.rand(1, 3, 40, 30)
    out = padded(image)
    assert out.shape == (1, 3, 40, 40)
    assert torch.equal(out[..., :, 5:35], image)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(PAD_COLOR))
    assert torch.allclose(out[0, :, -1, -1], torch.tensor(PAD_COLOR))


def test_squares_reach_both_ends_of_the_long_side():
    image = torch.arange(40.0).view(1, 1, 40, 1).expand(1, 3, 40, 30)
    assert square_at(image, 0.0)[0, 0, 0, 0] == 0
    assert square_at(image, 1.0)[0, 0, -1, 0] == 39
    wide = image.transpose(-1, -2)
    assert square_at(wide, 1.0).shape == (1, 3, 30, 30)


def test_the_first_step_sees_the_whole_frame_and_later_steps_vary():
    image = torch.rand(1, 3, 40, 30)
    rng = random.Random(0)
    assert frame_view(image, 1, rng).shape == (1, 3, 40, 40)
    shapes = {tuple(frame_view(image, step, rng).shape) for step in range(2, 40)}
    assert shapes == {(1, 3, 40, 40), (1, 3, 30, 30), (1, 3, 40, 30)}


def test_a_square_photo_is_left_as_it_is():
    image = torch.rand(1, 3, 32, 32)
    assert frame_view(image, 1, random.Random(0)) is image
