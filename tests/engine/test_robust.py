"""Expectation over transformations: the views the robust attack optimises through."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from companion.engine import imageio
from companion.engine.robust import EOTConfig, SiteViews, chroma_subsampled
from companion.engine.sites import get_site, round_trip
from tests.conftest import natural_photo


def views(site: str = "facebook", **kwargs) -> SiteViews:
    return SiteViews(EOTConfig(site=get_site(site), **kwargs))


def test_pillow_codec_forward_is_the_real_round_trip():
    image = natural_photo("coffee", (301, 199))
    x = imageio.to_tensor(image).requires_grad_(True)
    out = views().codec(x, 80)
    expected = imageio.to_tensor(round_trip(image, "jpeg", 80, "4:2:0"))
    assert torch.allclose(out, expected, atol=1e-6)
    # and the gradient gets through (to the luma at full resolution, the chroma per 2x2 block)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.abs().sum() > 0


def test_chroma_surrogate_keeps_luma_and_averages_chroma_over_2x2_blocks():
    grey = torch.rand(1, 1, 9, 11).expand(1, 3, 9, 11)  # no chroma: nothing to average
    assert torch.allclose(chroma_subsampled(grey), grey, atol=1e-5)
    blocky = torch.rand(1, 3, 5, 6).repeat_interleave(2, -2).repeat_interleave(2, -1)
    assert torch.allclose(chroma_subsampled(blocky), blocky, atol=1e-5)
    # a colour pattern that alternates every pixel has its chroma averaged away
    checker = torch.zeros(1, 3, 8, 8)
    checker[:, 0, ::2, ::2] = checker[:, 0, 1::2, 1::2] = 1
    out = chroma_subsampled(checker)
    assert (out - checker).abs().max() > 0.2


def test_views_vary_in_size_quality_and_noise_and_include_the_plain_image():
    x = imageio.to_tensor(natural_photo("astronaut", (200, 200)))
    rng = random.Random(0)
    v = views()
    samples = [v.sample(x, rng) for _ in range(40)]
    assert any(s is x for s in samples)  # some steps see the file as written
    sizes = {s.shape[-1] for s in samples}
    assert len(sizes) > 5 and min(sizes) >= 180 and max(sizes) <= 220
    assert all(0 <= float(s.min()) and float(s.max()) <= 1 for s in samples)


def test_worst_is_the_sites_pipeline_at_its_lowest_quality():
    image = natural_photo("chelsea")
    got = views("instagram").worst(imageio.to_tensor(image))
    expected = imageio.to_tensor(get_site("instagram").apply(image))
    assert torch.equal(got, expected)


def test_kornia_codec_is_close_to_libjpeg():
    pytest.importorskip("kornia")
    image = natural_photo("coffee", (256, 176))
    x = imageio.to_tensor(image)
    out = views(jpeg="kornia").codec(x, 75)
    expected = imageio.to_tensor(round_trip(image, "jpeg", 75, "4:2:0"))
    diff = (out - expected).abs().mean().item() * 255
    jpeg_error = (expected - x).abs().mean().item() * 255
    assert diff < jpeg_error, (diff, jpeg_error)  # an approximation, closer than JPEG's own error


def test_kornia_refuses_webp_sites():
    with pytest.raises(ValueError):
        views("reddit", jpeg="kornia")


def test_noise_is_seeded_by_the_attack_rng():
    x = imageio.to_tensor(natural_photo("camera", (64, 64)))
    a = [views(p_plain=0).sample(x, random.Random(5)) for _ in range(2)]
    assert np.array_equal(a[0].numpy(), a[1].numpy())
