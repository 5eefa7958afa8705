"""How far the protected photo is from the original, measured on 8-bit pixels."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from companion.engine.errors import MissingDependency  # noqa: F401 - where callers have always found it


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


SSIM_WINDOW = 7


def ssim(original: Image.Image, protected: Image.Image) -> float:
    """Structural similarity (Wang et al. 2004) on RGB in the 8-bit range: 1.0 for identical images.

    The definition scikit-image's `structural_similarity` uses by default (7x7 uniform
    window, sample covariance, K1 = 0.01, K2 = 0.03, the mean over the window positions
    inside the image and over the channels), computed with torch so that every receipt can
    report it without scikit-image; tests/engine/test_quality.py checks the two agree.
    """
    a, b = _pair(original, protected)
    if min(a.shape[:2]) < SSIM_WINDOW:  # the window needs at least that much image
        return 1.0 if np.array_equal(a, b) else math.nan
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1).unsqueeze(1)  # (3, 1, H, W)
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1).unsqueeze(1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, SSIM_WINDOW, stride=1)

    n = SSIM_WINDOW**2
    cov_norm = n / (n - 1)
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean(dim=(1, 2, 3)).mean())
