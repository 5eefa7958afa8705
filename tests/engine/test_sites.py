"""Site profiles: the size each site keeps and its re-encoding, replayed with real Pillow calls."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from companion.engine.errors import ProtectError
from companion.engine.sites import SITES, get_site, round_trip
from tests.conftest import natural_photo


def test_every_named_site_of_the_design_has_a_sane_profile():
    assert set(SITES) == {"generic", "facebook", "instagram", "x", "reddit", "linkedin", "mastodon", "bluesky"}
    for profile in SITES.values():
        low, high = profile.quality
        assert 1 <= low <= high <= 100, profile
        assert profile.codec in ("jpeg", "webp") and profile.subsampling in ("4:2:0", "4:4:4")


@pytest.mark.parametrize(
    ("site", "size", "kept"),
    [
        ("facebook", (4000, 3000), (2048, 1536)),
        ("facebook", (1200, 800), (1200, 800)),  # never enlarged
        ("instagram", (4000, 3000), (1080, 810)),  # 1080 wide
        ("instagram", (3000, 4000), (1013, 1350)),  # portrait: 1350 tall at most
        ("x", (6000, 4000), (4096, 2731)),
        ("mastodon", (8000, 6000), (3326, 2494)),  # 8.3 MP at most
        ("generic", (8000, 6000), (8000, 6000)),
    ],
)
def test_fit_gives_the_size_the_site_keeps(site, size, kept):
    assert get_site(site).fit(*size) == kept


def test_the_users_cap_applies_on_top_of_the_site():
    assert get_site("x").fit(4000, 3000, max_edge=1000) == (1000, 750)
    assert get_site("generic").fit(4000, 3000, max_edge=2048) == (2048, 1536)


def test_apply_is_a_real_pillow_resize_then_jpeg_at_the_lowest_quality():
    image = natural_photo("chelsea", (3000, 1995))
    site = get_site("facebook")
    got = site.apply(image)
    buf = io.BytesIO()
    image.resize((2048, 1362), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=71, subsampling=2)
    expected = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    assert got.size == (2048, 1362)
    assert np.array_equal(np.asarray(got), np.asarray(expected))


def test_reddit_previews_are_webp():
    image = natural_photo("coffee")
    got = get_site("reddit").reencode(image)
    assert np.array_equal(np.asarray(got), np.asarray(round_trip(image, "webp", 75)))
    assert not np.array_equal(np.asarray(got), np.asarray(image))


def test_unknown_site_is_a_clear_error():
    with pytest.raises(ProtectError) as info:
        get_site("myspace")
    assert info.value.code == "unknown_site" and "facebook" in info.value.message
