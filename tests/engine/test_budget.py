"""The texture-shaped budget: less change on flat regions, eps on texture, never zero."""

from __future__ import annotations

import torch

from companion.engine.budget import FLAT_SHARE, pixel_bounds
from companion.engine.imageio import to_tensor
from tests.conftest import natural_photo


def test_flat_regions_get_less_than_texture_and_eps_is_never_exceeded():
    sky = torch.full((1, 3, 32, 64), 0.6)
    texture = torch.rand(1, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    bounds = pixel_bounds(torch.cat([sky, texture], dim=-2), 8 / 255)
    flat, busy = bounds[..., :24, :], bounds[..., 40:, :]
    assert torch.allclose(flat * 255, torch.full_like(flat, int(8 * FLAT_SHARE)))
    assert torch.allclose(busy * 255, torch.full_like(busy, 8.0))
    assert bounds.max() * 255 <= 8 + 1e-4


def test_every_pixel_may_move_by_at_least_one_grey_level():
    bounds = pixel_bounds(torch.full((1, 3, 16, 16), 0.5), 1 / 255)
    assert torch.allclose(bounds * 255, torch.ones_like(bounds))


def test_unshaped_is_eps_everywhere():
    x = to_tensor(natural_photo("coffee", (64, 48)))
    assert torch.allclose(pixel_bounds(x, 8 / 255, shaped=False) * 255, torch.full((1, 1, 48, 64), 8.0))


def test_a_real_photo_gets_a_mix():
    bounds = pixel_bounds(to_tensor(natural_photo("astronaut", (128, 128))), 8 / 255) * 255
    assert bounds.min() < 8 and bounds.max() == 8
