"""Phi-4-multimodal's image preprocessing, differentiable: its dynamic HD crops and the
global view, as `Phi4MultimodalImageProcessor` makes them.

The processor, for a photo of W x H pixels and crops of 448 (`size`):

1. picks a grid of crops: ceil(W/448) x ceil(H/448) when that is at most `dynamic_hd`
   (36), else the grid of at most 36 crops whose shape is closest to the photo's;
2. resizes the photo (bilinear, antialiased) to fill that grid along one side, keeping its
   aspect ratio, and pads the rest of the grid white, on the right or at the bottom;
3. rescales to [0, 1] and normalises ((x - 0.5) / 0.5), then cuts the canvas into its 448
   crops and adds a global view: the whole canvas resized to 448 x 448 (bicubic, not
   antialiased), first;
4. masks the padding: a 14-pixel patch that lies wholly in it is left out, and the
   language model gets 256 + 16 tokens for the global view, one separator, and for the
   crops one token per 2x2 patches not left out plus one per row of them.

`hd_pixels` does steps 1-2 and the normalisation, and keeps where the photo is as a fourth
channel (1 in the photo, 0 in the padding), so that the rest can be cut where the model is
called (`crops`) from the pixel values alone. The processor resizes the 8-bit photo and
rounds it to 8 bits; we resize in floating point (the rounding has no gradient), which
differs by at most half a level there (tests/models/test_phi4_multimodal.py measures it).
The processor itself needs torchvision; none of this does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Phi4VisionConfig:
    """The image processor's settings that decide the pixels and the token count."""

    crop: int = 448
    patch: int = 14
    max_crops: int = 36
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @classmethod
    def from_dict(cls, d: dict) -> "Phi4VisionConfig":
        size = d.get("size", {"height": cls.crop, "width": cls.crop})
        if size.get("height") != size.get("width"):
            raise ValueError(f"Phi-4-multimodal's crops are square; this processor asks for {size}")
        return cls(int(size["height"]), int(d.get("patch_size", cls.patch)), int(d.get("dynamic_hd", cls.max_crops)),
                   tuple(d.get("image_mean", cls.mean)), tuple(d.get("image_std", cls.std)))

    @classmethod
    def from_folder(cls, path: Path) -> "Phi4VisionConfig":
        """From a checkpoint's preprocessor_config.json (or processor_config.json), read as
        JSON: building the processor would need torchvision."""
        if (path / "preprocessor_config.json").is_file():
            return cls.from_dict(json.loads((path / "preprocessor_config.json").read_text()))
        if (path / "processor_config.json").is_file():
            return cls.from_dict(json.loads((path / "processor_config.json").read_text()).get("image_processor", {}))
        raise FileNotFoundError(f"{path} has no preprocessor_config.json")

    @property
    def grid(self) -> int:
        """Patches along a crop's side (32 for 448 / 14)."""
        return self.crop // self.patch

    def as_dict(self) -> dict:
        """The settings in the processor's own keys (for a checkpoint's preprocessor_config.json)."""
        return {"image_processor_type": "Phi4MultimodalImageProcessor", "size": {"height": self.crop, "width": self.crop},
                "patch_size": self.patch, "dynamic_hd": self.max_crops, "image_mean": list(self.mean),
                "image_std": list(self.std), "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "do_convert_rgb": True, "resample": 3}


@dataclass(frozen=True)
class HDLayout:
    """Where a photo goes: its grid of crops and the size it is resized to (top left)."""

    crops_w: int
    crops_h: int
    content_w: int
    content_h: int


def _closest_grid(aspect: float, width: int, height: int, cfg: Phi4VisionConfig) -> tuple[int, int]:
    """The grid (columns, rows) of at most `max_crops` crops whose shape is closest to
    `aspect`; on a tie, the larger grid when the photo would fill more than half of it."""
    grids = sorted({(i, j) for i in range(1, cfg.max_crops + 1) for j in range(1, cfg.max_crops + 1)
                    if i * j <= cfg.max_crops}, key=lambda g: g[0] * g[1])
    best, best_diff = (1, 1), float("inf")
    for i, j in grids:
        diff = abs(aspect - i / j)
        if diff < best_diff:
            best, best_diff = (i, j), diff
        elif diff == best_diff and width * height > 0.5 * cfg.crop * cfg.crop * i * j:
            best = (i, j)
    return best


def hd_layout(width: int, height: int, cfg: Phi4VisionConfig) -> HDLayout:
    """The processor's grid of crops for a `width` x `height` photo, and its resized size."""
    cols, rows = math.ceil(width / cfg.crop), math.ceil(height / cfg.crop)
    if cols * rows > cfg.max_crops:
        cols, rows = _closest_grid(width / height, width, height, cfg)
    target_w, target_h = cfg.crop * cols, cfg.crop * rows
    if target_w / width < target_h / height:
        content_w, content_h = target_w, int(height * (target_w / width))
    else:
        content_w, content_h = int(width * (target_h / height)), target_h
    if min(content_w, content_h) < 10:
        raise ValueError(f"a {width}x{height} photo is too narrow for Phi-4-multimodal's crops")
    return HDLayout(cols, rows, content_w, content_h)


def hd_pixels(image: torch.Tensor, cfg: Phi4VisionConfig) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 4, rows * crop, cols * crop): the normalised canvas of
    crops, the photo resized into its top left and white around it, and a fourth channel
    that is 1 where the photo is and 0 in the padding."""
    b, _, h, w = image.shape
    layout = hd_layout(w, h, cfg)
    resized = F.interpolate(image, size=(layout.content_h, layout.content_w), mode="bilinear", align_corners=False,
                            antialias=True)
    pad_w, pad_h = cfg.crop * layout.crops_w - layout.content_w, cfg.crop * layout.crops_h - layout.content_h
    canvas = F.pad(resized, (0, pad_w, 0, pad_h), value=1.0)  # white, as the processor pads
    mean = torch.tensor(cfg.mean, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    inside = F.pad(image.new_ones(b, 1, layout.content_h, layout.content_w), (0, pad_w, 0, pad_h), value=0.0)
    return torch.cat([(canvas - mean) / std, inside], dim=1)


@dataclass
class Crops:
    """What Phi-4-multimodal's forward takes for a batch of images, and their token count."""

    pixel_values: torch.Tensor  # (B, 1 + crops, 3, crop, crop): the global view first
    attention_mask: torch.Tensor  # (B, 1 + crops, grid, grid): 1 for a patch the model reads
    sizes: torch.Tensor  # (B, 2): the canvas's height and width
    tokens: int  # image tokens per image in the prompt


def patch_mask(layout_h: int, layout_w: int, pad_h: int, pad_w: int, cfg: Phi4VisionConfig,
               device: torch.device) -> torch.Tensor:
    """(rows * grid, cols * grid): 0 for the patches wholly in the padding, as the processor masks them."""
    mask = torch.ones(layout_h * cfg.grid, layout_w * cfg.grid, device=device)
    if pad_w >= cfg.patch:
        mask[:, mask.shape[1] - pad_w // cfg.patch:] = 0
    if pad_h >= cfg.patch:
        mask[mask.shape[0] - pad_h // cfg.patch:, :] = 0
    return mask


def crops(pixel_values: torch.Tensor, cfg: Phi4VisionConfig) -> Crops:
    """`hd_pixels`' canvas cut into the model's crops, with its global view and patch mask."""
    canvas, inside = pixel_values[:, :3], pixel_values[:, 3]
    b, _, height, width = canvas.shape
    rows, cols, c, g = height // cfg.crop, width // cfg.crop, cfg.crop, cfg.grid
    content_w, content_h = int((inside[0, 0] > 0.5).sum()), int((inside[0, :, 0] > 0.5).sum())
    whole = F.interpolate(canvas, size=(c, c), mode="bicubic", align_corners=False)
    tiles = canvas.reshape(b, 3, rows, c, cols, c).permute(0, 2, 4, 1, 3, 5).reshape(b, rows * cols, 3, c, c)
    mask = patch_mask(rows, cols, height - content_h, width - content_w, cfg, canvas.device)
    tile_masks = mask.reshape(rows, g, cols, g).transpose(1, 2).reshape(rows * cols, g, g)
    masks = torch.cat([mask.new_ones(1, g, g), tile_masks]).to(canvas.dtype)
    # the tokens: the global view's (g/2)^2 and one per row of them, a separator, and per
    # kept 2x2 patch of the crops one, plus one per row of them
    kept = mask[0::2, 0::2]
    tokens = (g // 2) ** 2 + g // 2 + 1 + int(kept.sum()) + int(kept[:, 0].sum())
    return Crops(torch.cat([whole.unsqueeze(1), tiles], dim=1), masks.expand(b, -1, -1, -1),
                 torch.tensor([[height, width]], device=canvas.device).expand(b, 2), tokens)
