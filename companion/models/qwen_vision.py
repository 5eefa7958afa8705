"""Qwen2-VL / Qwen2.5-VL's image preprocessing, differentiable: the first piece of the
Qwen2.5-VL adapter (issue 14).

The family's processor (transformers' Qwen2VLImageProcessor, shared by Qwen2.5-VL) resizes
every photo to its own "smart" size: both sides multiples of patch * merge (28 px), the
pixel count kept between its min and max, the aspect ratio as close as it can. So the
number of image tokens follows the photo's size. It then normalises with CLIP's mean and
std, repeats the frame `temporal_patch_size` (2) times, since the vision tower treats a photo
as a two-frame video, and flattens each 14x14 patch, in merge-window order, into one row:

    pixel_values: (grid_h * grid_w, 3 * 2 * 14 * 14), image_grid_thw: [1, grid_h, grid_w]

`pixel_values` here does the same on a (1, 3, H, W) tensor in [0, 1], with gradients to every
input pixel. The sizes come from transformers' own `smart_resize`, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from companion.engine.transforms import resize_bicubic

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class QwenVisionConfig:
    """The processor's settings (its defaults, which the released checkpoints use)."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    @classmethod
    def from_processor(cls, ip) -> "QwenVisionConfig":
        """The settings of a loaded Hugging Face image processor."""
        size = dict(ip.size) if ip.size is not None else {}
        return cls(ip.patch_size, ip.merge_size, ip.temporal_patch_size,
                   size.get("shortest_edge") or getattr(ip, "min_pixels", None) or cls.min_pixels,
                   size.get("longest_edge") or getattr(ip, "max_pixels", None) or cls.max_pixels,
                   tuple(ip.image_mean), tuple(ip.image_std))


def target_size(height: int, width: int, config: QwenVisionConfig = QwenVisionConfig()) -> tuple[int, int]:
    """The (height, width) the processor resizes a photo to."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    return smart_resize(height, width, factor=config.patch_size * config.merge_size, min_pixels=config.min_pixels,
                        max_pixels=config.max_pixels)


def pixel_values(image: torch.Tensor, config: QwenVisionConfig = QwenVisionConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel_values, image_grid_thw) for a (1, 3, H, W) image in [0, 1], as the processor
    gives them, differentiably."""
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"expected one RGB image of shape (1, 3, H, W), got {tuple(image.shape)}")
    height, width = target_size(image.shape[-2], image.shape[-1], config)
    x = _resize_like_pillow(image, height, width)
    mean = torch.tensor(config.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = ((x - mean) / std)[0]  # (3, H, W)
    p, m, t = config.patch_size, config.merge_size, config.temporal_patch_size
    grid_h, grid_w = height // p, width // p
    patches = x.reshape(3, grid_h // m, m, p, grid_w // m, m, p)
    patches = patches.permute(1, 4, 2, 5, 0, 3, 6)  # (gh/m, gw/m, m, m, C, p, p): merge windows together
    patches = patches.unsqueeze(5).expand(*patches.shape[:5], t, p, p)  # the photo as t identical frames
    flat = patches.reshape(grid_h * grid_w, 3 * t * p * p)
    grid = torch.tensor([[1, grid_h, grid_w]], dtype=torch.long, device=x.device)
    return flat, grid


def _resize_like_pillow(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pillow resizes in two 8-bit passes, width first, and clips each to [0, 1]: an
    enlargement's overshoot at a sharp edge is clipped before the other pass sees it."""
    x = image
    for h, w in ((image.shape[-2], width), (height, width)):
        if (h, w) != tuple(x.shape[-2:]):
            x = resize_bicubic(x, h, w).clamp(0, 1)
    return x


def image_tokens(height: int, width: int, config: QwenVisionConfig = QwenVisionConfig()) -> int:
    """How many image tokens the language model sees for a photo of this size (after the merger)."""
    h, w = target_size(height, width, config)
    return (h // config.patch_size) * (w // config.patch_size) // (config.merge_size ** 2)
