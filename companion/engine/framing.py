"""Framings: the whole photo under the crops and pads different models apply.

LLaVA-1.5's processor centre-crops a square, so a perturbation optimised through it alone
leaves the rest of a portrait or landscape photo untouched (about a quarter of a 3:4 phone
photo) and ends in a hard seam. Other models see the whole frame: LLaVA-NeXT and
Phi-4-multimodal pad it or tile it, Qwen2.5-VL resizes it whole. So each attack step shows
the model one framing of the photo: the whole frame padded to a square (what padding
models see), a square at a random place along the long side (every part of the photo as
a cropping model would see it, were the photo cropped differently), or the photo as is
(the model's own processor). The first step is always the padded whole frame, so every
pixel gets a gradient, and a perturbation, from the start.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

#: LLaVA's padding colour (its processor's image mean), in [0, 1]
PAD_COLOR = (0.48145466, 0.4578275, 0.40821073)


def is_square(image: torch.Tensor) -> bool:
    return image.shape[-2] == image.shape[-1]


def padded(image: torch.Tensor) -> torch.Tensor:
    """The whole (N, 3, H, W) frame centred on a square of PAD_COLOR."""
    h, w = image.shape[-2:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = F.pad(image, (left, side - w - left, top, side - h - top), value=0.0)
    if side == h and side == w:
        return out
    color = torch.tensor(PAD_COLOR, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    mask = torch.zeros(1, 1, side, side, device=image.device, dtype=image.dtype)
    mask[..., top : top + h, left : left + w] = 1
    return out + (1 - mask) * color


def square_at(image: torch.Tensor, where: float) -> torch.Tensor:
    """The square of the photo's short side at `where` (0: top or left, 1: bottom or right)."""
    h, w = image.shape[-2:]
    side = min(h, w)
    offset = round(where * (max(h, w) - side))
    return image[..., offset : offset + side, :] if h > w else image[..., :, offset : offset + side]


def frame_view(image: torch.Tensor, step: int, rng: random.Random) -> torch.Tensor:
    """The framing an attack step optimises through: at step 1 and every fourth step after,
    the padded whole frame; otherwise a square at a random place (half the time) or the
    photo as is. Square photos are the same under every framing."""
    if is_square(image):
        return image
    if step % 4 == 1:
        return padded(image)
    if rng.random() < 0.5:
        return square_at(image, rng.random())
    return image
