"""Framings: the whole photo reaches the model, padded to a square beside its own crop."""

from __future__ import annotations

import torch

from companion.engine.framing import PAD_COLOR, PAD_EVERY, adds_whole_frame, padded, step_direction, unseen_pixels
from companion.engine.transforms import center_crop, resize_bicubic


def test_padding_keeps_the_whole_frame_centred_on_a_square():
    image = torch.rand(1, 3, 40, 30)
    out = padded(image)
    assert out.shape == (1, 3, 40, 40)
    assert torch.equal(out[..., :, 5:35], image)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(PAD_COLOR))
    assert torch.allclose(out[0, :, -1, -1], torch.tensor(PAD_COLOR))


def test_the_first_step_and_every_few_after_add_the_whole_frame():
    assert adds_whole_frame(1) and adds_whole_frame(1 + PAD_EVERY)
    assert not adds_whole_frame(2) and not adds_whole_frame(PAD_EVERY)


def test_the_pixels_a_centre_crop_drops_are_found_and_a_squashed_frame_drops_none():
    image = torch.rand(1, 3, 40, 30)
    unseen = unseen_pixels(image, [lambda x: center_crop(x, 30, 30)])
    assert unseen.shape == (1, 1, 40, 30)
    assert unseen[..., :5, :].all() and unseen[..., 35:, :].all() and not unseen[..., 5:35, :].any()
    assert unseen_pixels(image, [lambda x: center_crop(x, 30, 30), lambda x: resize_bicubic(x, 16, 16)]) is None


def test_the_whole_frame_steers_only_the_pixels_no_model_sees():
    own = torch.tensor([0.5, -2.0, 0.0, 3.0, 0.0])
    whole = torch.tensor([-1.0, 3.0, -4.0, 2.0, 1.0])
    unseen = torch.tensor([False, False, False, True, True])
    assert step_direction(own.clone(), whole, unseen).tolist() == [1.0, -1.0, 0.0, 1.0, 1.0]
    assert step_direction(own.clone()).tolist() == [1.0, -1.0, 0.0, 1.0, 0.0]
