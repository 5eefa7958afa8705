"""Qwen2-VL / Qwen2.5-VL's image preprocessing, differentiable (used by qwen2_5_vl.py).

The family's processor (transformers' Qwen2VLImageProcessor, shared by Qwen2.5-VL) resizes
every photo to its own "smart" size: both sides multiples of patch * merge (28 px), the
pixel count kept between its min and max, the aspect ratio as close as it can. So the
number of image tokens follows the photo's size. It then normalises with CLIP's mean and
std, repeats the frame `temporal_patch_size` (2) times, since the vision tower treats a photo
as a two-frame video, and flattens each 14x14 patch, in merge-window order, into one row:

    pixel_values: (grid_h * grid_w, 3 * 2 * 14 * 14), image_grid_thw: [1, grid_h, grid_w]

`pixel_values` here does the same on (B, 3, H, W) tensors in [0, 1], with gradients to every
input pixel, in two parts: `normalised` (resize and normalise) and `patches` (the layout).
The sizes come from transformers' own `smart_resize`, so they cannot drift.
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


def normalised(image: torch.Tensor, config: QwenVisionConfig = QwenVisionConfig()) -> torch.Tensor:
    """(B, 3, H, W) images in [0, 1] resized to the processor's size for H x W and
    normalised, differentiably: the pixels before the patches are cut (`patches`)."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"expected RGB images of shape (B, 3, H, W), got {tuple(image.shape)}")
    height, width = target_size(image.shape[-2], image.shape[-1], config)
    x = resize_bicubic(image, height, width)
    mean = torch.tensor(config.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def patches(x: torch.Tensor, config: QwenVisionConfig = QwenVisionConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel_values, image_grid_thw) for `normalised` images of one size, as the processor
    lays them out: each image's patches, in merge-window order, one after the other."""
    b, c, height, width = x.shape
    p, m, t = config.patch_size, config.merge_size, config.temporal_patch_size
    grid_h, grid_w = height // p, width // p
    rows = x.reshape(b, c, grid_h // m, m, p, grid_w // m, m, p)
    rows = rows.permute(0, 2, 5, 3, 6, 1, 4, 7)  # (B, gh/m, gw/m, m, m, C, p, p): merge windows together
    rows = rows.unsqueeze(6).expand(*rows.shape[:6], t, p, p)  # the photo as t identical frames
    flat = rows.reshape(b * grid_h * grid_w, c * t * p * p)
    grid = torch.tensor([[1, grid_h, grid_w]] * b, dtype=torch.long, device=x.device)
    return flat, grid


def pixel_values(image: torch.Tensor, config: QwenVisionConfig = QwenVisionConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel_values, image_grid_thw) for (B, 3, H, W) images in [0, 1], as the processor
    gives them, differentiably."""
    return patches(normalised(image, config), config)


def image_tokens(height: int, width: int, config: QwenVisionConfig = QwenVisionConfig()) -> int:
    """How many image tokens the language model sees for a photo of this size (after the merger)."""
    h, w = target_size(height, width, config)
    return (h // config.patch_size) * (w // config.patch_size) // (config.merge_size ** 2)
