"""Framings: the whole photo, under the crop of one model and the pad of another.

LLaVA-1.5's processor centre-crops a square, so a perturbation optimised through it alone
leaves the rest of a portrait or landscape photo untouched (about a quarter of a 3:4 phone
photo) and ends in a hard seam. Other models see the whole frame: LLaVA-NeXT and
Phi-4-multimodal pad it or tile it, Qwen2.5-VL resizes it whole. So on some steps the
attack's loss is the sum over two framings: the photo as the model's processor takes it,
and the whole frame padded to a square. Step 1 is one of them, so every pixel gets a
gradient, and a perturbation, from the start.

Summed, not alternated: the attack steps by the gradient's sign, which moves every pixel by
the full step whatever the gradient's size, so a step through the padded frame alone
undid the progress made through the crop (the face demo on `coins`, 384x303, for
facebook: refused 1.00 with the crop alone, 0.00 with a padded step every 4th or even
every 8th step, alone). Summed it still cost too much there (0.59 as written, 0.00 after
the site's JPEG, and every check failed on the padded frame), so it is not yet the default
(`AttackConfig.whole_frame`): making a perturbation hold under both framings at 8/255
is open work (issue 9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: LLaVA's padding colour (its processor's image mean), in [0, 1]
PAD_COLOR = (0.48145466, 0.4578275, 0.40821073)
#: every how many steps the padded whole frame joins the model's own view
PAD_EVERY = 4


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


def frame_views(image: torch.Tensor, step: int) -> list[torch.Tensor]:
    """The framings an attack step optimises through, their losses summed before the sign
    step: the photo as the model's processor takes it, and at step 1 and every PAD_EVERY-th
    after, the whole frame padded to a square too. Square photos have one framing."""
    if is_square(image) or step % PAD_EVERY != 1:
        return [image]
    return [image, padded(image)]
