"""Framings: the whole photo reaches the model, padded to a square beside its own crop."""

from __future__ import annotations

import torch

from companion.engine.framing import PAD_COLOR, PAD_EVERY, frame_views, padded


def test_padding_keeps_the_whole_frame_centred_on_a_square():
    image = torch.rand(1, 3, 40, 30)
    out = padded(image)
    assert out.shape == (1, 3, 40, 40)
    assert torch.equal(out[..., :, 5:35], image)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(PAD_COLOR))
    assert torch.allclose(out[0, :, -1, -1], torch.tensor(PAD_COLOR))


def test_the_first_step_and_every_few_after_add_the_padded_frame():
    image = torch.rand(1, 3, 40, 30)
    assert [v.shape[-1] for v in frame_views(image, 1)] == [30, 40]
    assert len(frame_views(image, 2)) == 1 and len(frame_views(image, 1 + PAD_EVERY)) == 2


def test_a_square_photo_has_one_framing():
    image = torch.rand(1, 3, 32, 32)
    assert frame_views(image, 1) == [image]
