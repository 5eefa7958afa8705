"""The distortions `evaluate` applies: each does what its name says, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from companion.engine import distortions as d
from companion.engine.sites import get_site, round_trip
from tests.conftest import natural_photo

PHOTO = natural_photo("chelsea", (1600, 1064))


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_the_standard_set_and_the_site_entry():
    assert list(d.STANDARD) == ["none", "jpeg95", "jpeg85", "jpeg75", "resize1080", "resize2048", "webp80",
                                "noise4", "noise8", "noise16"]
    assert list(d.distortions("instagram"))[-1] == "site:instagram"
    assert "site:facebook" not in d.distortions(None)


def test_none_keeps_the_photo():
    assert d.STANDARD["none"](PHOTO) is PHOTO


@pytest.mark.parametrize("quality", [95, 85, 75])
def test_jpeg_is_a_real_round_trip_and_lower_quality_moves_more(quality):
    out = d.STANDARD[f"jpeg{quality}"](PHOTO)
    assert np.array_equal(pixels(out), pixels(round_trip(PHOTO, "jpeg", quality, "4:2:0")))


def test_jpeg_error_grows_as_quality_falls():
    errors = [np.abs(pixels(d.STANDARD[f"jpeg{q}"](PHOTO)) - pixels(PHOTO)).mean() for q in (95, 85, 75)]
    assert errors[0] < errors[1] < errors[2]


@pytest.mark.parametrize(("name", "edge"), [("resize1080", 1080), ("resize2048", 2048)])
def test_resize_sets_the_long_edge_and_never_enlarges(name, edge):
    out = d.STANDARD[name](PHOTO)
    assert max(out.size) == min(edge, 1600)
    assert abs(out.width / out.height - 1600 / 1064) < 0.01
    small = natural_photo("coffee")  # 600x400
    assert d.STANDARD[name](small).size == small.size


def test_webp_80_is_lossy_but_close():
    out = d.STANDARD["webp80"](PHOTO)
    err = np.abs(pixels(out) - pixels(PHOTO)).mean()
    assert 0 < err < 6


@pytest.mark.parametrize("sigma", [4, 8, 16])
def test_gaussian_noise_has_its_sigma_and_is_reproducible(sigma):
    grey = PHOTO.convert("L").convert("RGB").point(lambda v: 64 + v // 2)  # away from 0 and 255: no clipping
    out = d.STANDARD[f"noise{sigma}"](grey)
    std = (pixels(out) - pixels(grey)).std()
    assert abs(std - sigma) < 0.05 * sigma + 0.3, std
    assert np.array_equal(pixels(out), pixels(d.STANDARD[f"noise{sigma}"](grey)))


def test_site_entry_is_the_profiles_pipeline():
    out = d.distortions("facebook")["site:facebook"](natural_photo("chelsea", (3000, 1995)))
    assert out.size == (2048, 1362)
    expected = get_site("facebook").apply(natural_photo("chelsea", (3000, 1995)))
    assert np.array_equal(pixels(out), pixels(expected))
