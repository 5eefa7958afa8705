"""A perturbation budget shaped by the photo: less in flat regions, more in texture.

The eye sees noise on a clear sky, a wall or a cheek at once (pastel mottling at 2-3x
zoom) and does not see it in foliage, hair or gravel, where the photo's own detail masks
it (contrast masking). So each pixel's bound is epsilon times a factor between
`FLAT_SHARE` (flat) and 1 (textured), from the local contrast of the luminance around
it; the hard L-infinity bound (epsilon) still holds everywhere, and no pixel's bound
falls below one grey level, so none is left unperturbed by construction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FLAT_SHARE = 0.4  # the share of epsilon a perfectly flat region may use
TEXTURE_CONTRAST = 6 / 255  # local standard deviation from which a region counts as fully textured
WINDOW = 7  # pixels: the neighbourhood whose contrast masks a pixel's change

_LUMA = (0.299, 0.587, 0.114)


def local_contrast(image: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """(N, 1, H, W) standard deviation of the luminance over a window around each pixel."""
    luma = torch.tensor(_LUMA, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    y = (image * luma).sum(dim=1, keepdim=True)
    pad = window // 2
    padded = F.pad(y, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, window, stride=1)
    mean_sq = F.avg_pool2d(padded.square(), window, stride=1)
    return (mean_sq - mean.square()).clamp(min=0).sqrt()


@torch.no_grad()
def pixel_bounds(image: torch.Tensor, eps: float, shaped: bool = True) -> torch.Tensor:
    """(N, 1, H, W) the largest change each pixel may take, in [0, 1] units on the 8-bit
    grid: eps everywhere when not `shaped`; else eps scaled from FLAT_SHARE (flat) to 1
    (contrast at or above TEXTURE_CONTRAST), never below 1/255 nor above eps."""
    top = torch.full_like(image[:, :1], float(eps))
    if not shaped:
        return torch.floor(top * 255 + 1e-6) / 255
    texture = (local_contrast(image) / TEXTURE_CONTRAST).clamp(max=1.0)
    share = FLAT_SHARE + (1 - FLAT_SHARE) * texture
    bound = torch.floor(top * share * 255 + 1e-6) / 255
    return bound.clamp(min=1 / 255, max=float(eps))
