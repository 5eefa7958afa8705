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
