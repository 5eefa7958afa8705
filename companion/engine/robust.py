"""Expectation over transformations (EOT): optimise for the photo as the site will serve it.

Each attack step draws one view of the image from a site profile's distribution and takes
the gradient through it: a small rescale (sites and clients resize by a few percent: 1080
vs 1440 px, rounding), the site's re-encoding at a quality drawn from its typical range,
and small Gaussian noise. A share of the steps use the image as written, since the file
itself is also seen by someone. The attack then succeeds only when both the file and the
profile's worst typical pipeline refuse (see `ImageProtector`).

Two ways to put the codec in the loop, both available, compared on evidence
(benchmarks/robust_speed.py on 2 CPU cores, benchmarks/gpu_speed.py on an H200):

- "pillow" (the default): a straight-through estimator around a real Pillow round trip,
  libjpeg for JPEG and libwebp for WebP. The forward pass is exactly what the site
  computes; the backward pass goes through a cheap linear stand-in for the codec: the
  identity, except that for 4:2:0 sites the chroma is averaged over 2x2 blocks as the
  codec stores it, so no step is spent on colour detail the site throws away (on the
  hardest photo of the acceptance run this lifted refusal after the site's JPEG from 0.68
  to 0.95 at the same 200 steps). One encode and one decode per step, on the CPU; works
  for every codec Pillow has.
- "kornia": kornia's differentiable JPEG (`kornia.enhance.jpeg_codec_differentiable`),
  a real (smoothed) gradient through quantisation, batched on the GPU; JPEG only, needs
  `pip install 'imageprotector[kornia]'`.

Why Pillow is the default: on a CPU kornia's forward+backward costs 9-10 times Pillow's
round trip (2.3 s vs 0.27 s at 2048x1536), so a robust step costs 2.5 times more; on the
GPU kornia is cheaper (0.69 vs 0.92 s a step at 12 MP with LLaVA-1.5-7B's architecture).
But its forward pass is an approximation of libjpeg, and a long run fits the
approximation's errors: on `coins` the loss through kornia's codec falls as low as through
Pillow's, yet after 200 steps the saved file is refused on 0.05 of the held-out
questions and 0.00 after a real JPEG 75 (Pillow: 1.00 and 1.00), on CPU and on GPU alike.
With a fixed budget of 16-64 steps and no early stop it does as well as Pillow or better
(table 3 of robust_speed.py), which is worth revisiting with a real model on a GPU.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from companion.engine import imageio
from companion.engine.sites import JPEG_BACKENDS, SiteProfile, round_trip
from companion.engine.transforms import resize_bicubic



@dataclass
class EOTConfig:
    """How the views are drawn; every figure is in [0, 1] units or relative size."""

    site: SiteProfile
    rescale: float = 0.1  # relative size change drawn from [1 - rescale, 1 + rescale]
    noise: float = 2 / 255  # noise sigma drawn from [0, noise]
    p_plain: float = 0.25  # share of steps that see the file as written
    jpeg: str = "pillow"  # "pillow" (straight-through) or "kornia" (differentiable)


class SiteViews:
    """Draws random views of an image through a site's pipeline (`sample`) and gives its
    deterministic worst typical case (`worst`), both as torch tensors."""

    def __init__(self, config: EOTConfig) -> None:
        if config.jpeg not in JPEG_BACKENDS:
            raise ValueError(f"unknown JPEG backend {config.jpeg!r}; use one of {JPEG_BACKENDS}")
        if config.jpeg == "kornia" and config.site.codec != "jpeg":
            raise ValueError("kornia's differentiable codec is JPEG only")
        self.config = config

    def sample(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """One random view of a (1, 3, H, W) image, differentiable (or straight-through)."""
        cfg = self.config
        if rng.random() < cfg.p_plain:
            return image
        h, w = image.shape[-2:]
        scale = rng.uniform(1 - cfg.rescale, 1 + cfg.rescale)
        view = resize_bicubic(image, max(8, round(h * scale)), max(8, round(w * scale)))
        low, high = cfg.site.quality
        view = self.codec(view, rng.randint(low, high))
        sigma = rng.uniform(0, cfg.noise)
        if sigma > 0:
            gen = torch.Generator(device=view.device).manual_seed(rng.getrandbits(31))
            noise = torch.randn(view.shape, generator=gen, device=view.device, dtype=view.dtype)
            view = (view + sigma * noise).clamp(0, 1)
        return view

    def codec(self, image: torch.Tensor, quality: int) -> torch.Tensor:
        """The site's re-encoding at `quality`, with a gradient the attack can follow."""
        if self.config.jpeg == "kornia":
            from kornia.enhance import jpeg_codec_differentiable

            q = torch.tensor([float(quality)], device=image.device, dtype=image.dtype)
            return jpeg_codec_differentiable(image, q).clamp(0, 1)
        exact = self._pillow(image.detach(), quality)
        smooth = chroma_subsampled(image) if self.config.site.subsampling == "4:2:0" else image
        return smooth + (exact - smooth).detach()

    def _pillow(self, image: torch.Tensor, quality: int) -> torch.Tensor:
        site = self.config.site
        decoded = round_trip(imageio.to_image(image), site.codec, quality, site.subsampling)
        return imageio.to_tensor(decoded, image.device).to(image.dtype)

    @torch.no_grad()
    def worst(self, image: torch.Tensor) -> torch.Tensor:
        """The site's pipeline at its lowest typical quality, with real Pillow calls:
        what the attack checks and the receipt verifies."""
        view = self.config.site.apply(imageio.to_image(image))
        return imageio.to_tensor(view, image.device).to(image.dtype)


_RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def chroma_subsampled(image: torch.Tensor) -> torch.Tensor:
    """`image` with its chroma (Cb, Cr) averaged over 2x2 blocks, as JPEG 4:2:0 stores it.

    The backward path of the Pillow codec: the forward pass is the real round trip, and the
    gradient goes through this linear surrogate, so the attack does not spend its budget
    on chroma detail the site's 4:2:0 encoding throws away.
    """
    h, w = image.shape[-2:]
    m = _RGB_TO_YCC.to(image)
    ycc = torch.einsum("ij,njhw->nihw", m, image)
    pad = (0, w % 2, 0, h % 2)
    chroma = torch.nn.functional.pad(ycc[:, 1:], pad, mode="replicate")
    chroma = torch.nn.functional.avg_pool2d(chroma, 2)
    chroma = chroma.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :h, :w]
    ycc = torch.cat([ycc[:, :1], chroma], dim=1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), ycc)


def straight_through(image: torch.Tensor, function) -> torch.Tensor:
    """`function(image)` in the forward pass, the identity in the backward pass."""
    return image + (function(image.detach()) - image).detach()
