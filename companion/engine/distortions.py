"""What can happen to a photo between us and the analyst, for `imageprotector evaluate`.

Each distortion is a plain Pillow/numpy function from an RGB image to an RGB image, applied
to the clean and to the protected photo alike: re-encodings at common qualities, the two
long-edge sizes sites most often keep, WebP, Gaussian noise (the countermeasure the paper
studies first), and a site profile's whole pipeline. Noise is seeded, so a report can be
reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from companion.engine.sites import SITES, SiteProfile, get_site, round_trip

Distortion = Callable[[Image.Image], Image.Image]


def jpeg(quality: int) -> Distortion:
    """A JPEG round trip at `quality` with 4:2:0 chroma, as most sites encode."""
    return lambda image: round_trip(image, "jpeg", quality, "4:2:0")


def webp(quality: int) -> Distortion:
    """A lossy WebP round trip at `quality`."""
    return lambda image: round_trip(image, "webp", quality)


def resize(long_edge: int) -> Distortion:
    """Scale down (never up) so the long edge is at most `long_edge`: a site's resize (bicubic)."""
    return SiteProfile(f"resize{long_edge}", long_edge=long_edge).resize


def gaussian_noise(sigma: float, seed: int = 0) -> Distortion:
    """Add N(0, sigma^2) noise, sigma in /255 units, then round and clip to 8 bits."""

    def apply(image: Image.Image) -> Image.Image:
        rng = np.random.default_rng(seed)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        noisy = pixels + rng.normal(0.0, sigma, size=pixels.shape).astype(np.float32)
        return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8), "RGB")

    return apply


def site(name: str) -> Distortion:
    """The site profile's pipeline: its resize, then its re-encoding at its lowest typical quality."""
    profile = get_site(name)
    return profile.apply


#: the distortions `evaluate` reports by default, in table order
STANDARD: dict[str, Distortion] = {
    "none": lambda image: image,
    "jpeg95": jpeg(95),
    "jpeg85": jpeg(85),
    "jpeg75": jpeg(75),
    "resize1080": resize(1080),
    "resize2048": resize(2048),
    "webp80": webp(80),
    "noise4": gaussian_noise(4),
    "noise8": gaussian_noise(8),
    "noise16": gaussian_noise(16),
}


def distortions(site_name: str | None = None) -> dict[str, Distortion]:
    """The standard distortions, plus `site:<name>` for a site profile when one is named."""
    table = dict(STANDARD)
    if site_name:
        table[f"site:{get_site(site_name).name}"] = site(site_name)
    return table


__all__ = ["Distortion", "STANDARD", "SITES", "distortions", "gaussian_noise", "jpeg", "resize", "site", "webp"]
