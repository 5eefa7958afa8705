"""Differentiable image transforms the attack optimises through.

Adapters use these to rebuild their processor's resize in torch, so that the gradient
reaches every pixel of the full-resolution photo instead of a pre-resized copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_bicubic(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a (N, C, H, W) tensor the way Pillow's BICUBIC does.

    With `antialias=True` torch uses Pillow's separable convolution (cubic a = -0.5,
    support widened by the downscale factor), so downscaling a 12 MP photo averages over
    all its pixels exactly as the processor's Pillow call does, and every pixel receives
    gradient. Pillow also rounds to 8 bits after each pass; we do not (the gradient of
    rounding is zero), which leaves a mean difference of about 0.25/255.
    """
    h, w = image.shape[-2:]
    if (h, w) == (height, width):
        return image
    # Pillow resamples in two passes into 8-bit images: the cubic's overshoot at sharp edges
    # is clipped in between, so clip there too. Its order (Pillow 13, measured): width
    # first, except when the width grows and the height shrinks: then height first.
    steps = ((height, w), (height, width)) if width > w and height < h else ((h, width), (height, width))
    x = image
    for size in steps:
        if size != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    return x


def shortest_edge_size(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """Output (height, width) of transformers' shortest-edge resize (the long edge is floored)."""
    if width <= height:
        return int(shortest_edge * height / width), shortest_edge
    return shortest_edge, int(shortest_edge * width / height)


def center_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the centre like transformers' `center_crop` (top-left rounded down)."""
    h, w = image.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"crop {height}x{width} is larger than the image {h}x{w}")
    top, left = (h - height) // 2, (w - width) // 2
    return image[..., top : top + height, left : left + width]


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round a [0, 1] tensor to the 8-bit grid a saved file can hold."""
    return torch.round(image.clamp(0, 1) * 255) / 255
