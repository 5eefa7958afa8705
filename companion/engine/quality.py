"""How far the protected photo is from the original, measured on 8-bit pixels."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def _pair(original: Image.Image, protected: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    if original.size != protected.size:
        raise ValueError(f"sizes differ: original {original.size}, protected {protected.size}")
    a = np.asarray(original.convert("RGB"), dtype=np.int16)
    b = np.asarray(protected.convert("RGB"), dtype=np.int16)
    return a, b


def linf(original: Image.Image, protected: Image.Image) -> int:
    """Largest per-channel difference, in /255 units."""
    a, b = _pair(original, protected)
    return int(np.abs(a - b).max())


def psnr(original: Image.Image, protected: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    a, b = _pair(original, protected)
    mse = float(np.mean((a - b).astype(np.float64) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(original: Image.Image, protected: Image.Image) -> float:
    """Structural similarity (scikit-image's, on RGB, 8-bit range): 1.0 for identical images.

    scikit-image is an optional dependency (`pip install imageprotector[evaluate]`).
    """
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise MissingDependency("scikit-image", "evaluate") from None
    a, b = _pair(original, protected)
    if min(a.shape[:2]) < 7:  # SSIM's 7x7 window needs at least that much image
        return 1.0 if np.array_equal(a, b) else math.nan
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


class MissingDependency(ImportError):
    """An optional package a feature needs is not installed; the message says how to get it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is needed for this; install it with: pip install 'imageprotector[{extra}]'")
