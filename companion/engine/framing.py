"""Framings: the whole photo, under the crop of one model and the pad of another.

LLaVA-1.5's processor centre-crops a square, so a perturbation optimised through it alone
leaves the rest of a portrait or landscape photo untouched (about a quarter of a 3:4 phone
photo) and ends in a hard seam. Other models see the whole frame: LLaVA-NeXT and
Phi-4-multimodal pad it or tile it, Qwen2.5-VL resizes it whole. So on step 1 and every
PAD_EVERY-th step after, the attack also takes the gradient through the whole frame padded
to a square, and uses it only on the pixels no model's own view reads (`unseen_pixels`,
found once from the processors' gradients): the strips the crop drops move towards a
refusal of the padded frame, every pixel moves from step 1, and the pixels the models do
see follow their own gradient alone. The strips' change is held to STRIP_BOUND, so they
take a small share of the PSNR floor's energy: at the full budget they took a fifth of it
on `coins` (384x303) and the face demo's refusal after facebook's JPEG fell from 0.95 to 0.86.

Kept apart, not summed: the attack then stepped by the gradient's sign (it still does
without a PSNR floor; under one it steps by the gradient scaled to unit RMS, each part
scaled on its own here), which moves every pixel by the full step whatever the gradient's
size, so the padded frame's gradient in the crop undid the progress made through it. Summed (issue 9, session 3) it cost the face demo on
`coins`, 384x303, for facebook, 1.00 -> 0.59 as written and 0.00 after the site's JPEG;
alternated it was worse (0.00 even with a padded step every 8th only). Kept to the strips,
the crop's own pixels take exactly the steps they take without the padded frame (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: LLaVA's padding colour (its processor's image mean), in [0, 1]
PAD_COLOR = (0.48145466, 0.4578275, 0.40821073)
#: every how many steps the padded whole frame joins the model's own view
PAD_EVERY = 4


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


#: the most a pixel no model sees may change, in [0, 1] units
STRIP_BOUND = 2 / 255


def adds_whole_frame(step: int) -> bool:
    """Whether attack step `step` (from 1) also takes the padded whole frame's gradient:
    step 1 and every PAD_EVERY-th after."""
    return step % PAD_EVERY == 1


def unseen_pixels(image: torch.Tensor, views) -> torch.Tensor | None:
    """(1, 1, H, W) True where none of `views` (functions from the image to a model's
    input, such as `Adapter.pixel_values`) reads the pixel; None when they read them all
    (a square photo, a model that squashes the whole frame)."""
    probe = image.detach().clone().requires_grad_(True)
    generator = torch.Generator().manual_seed(0)
    total = probe.new_zeros(())
    for view in views:
        out = view(probe)
        total = total + (out * torch.rand(out.shape, generator=generator).to(out)).sum()
    (grad,) = torch.autograd.grad(total, probe)
    unseen = (grad == 0).all(dim=1, keepdim=True)
    return unseen if bool(unseen.any()) else None


def step_direction(
    own: torch.Tensor,
    whole: torch.Tensor | None = None,
    unseen: torch.Tensor | None = None,
    normalise: Callable[[torch.Tensor], torch.Tensor] = torch.Tensor.sign_,
) -> torch.Tensor:
    """The step's direction: `normalise` (in place; the sign by default) of the models' own
    gradient `own`, and on the `unseen` pixels, when the padded whole frame's gradient
    `whole` is given, that of `whole` instead. In place on `own`."""
    if whole is None or unseen is None:
        return normalise(own)
    return normalise(own).mul_(~unseen).add_(normalise(whole).mul_(unseen))
