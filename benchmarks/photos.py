"""Natural photos for benchmarks: real photographs shipped with scikit-image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: colour photographs scikit-image ships (no download needed)
PHOTO_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "stereo_motorcycle",
    "immunohistochemistry",
    "camera",
    "moon",
    "coins",
    "text",
    "grass",
    "brick",
)


def natural_photo(name: str, size: tuple[int, int] | None = None) -> Image.Image:
    """The photo `name` as RGB, optionally resized (bicubic) to (width, height)."""
    import skimage.data

    arr = getattr(skimage.data, name)()
    if isinstance(arr, tuple):  # stereo pairs
        arr = arr[0]
    image = Image.fromarray(np.asarray(arr)).convert("RGB")
    return image.resize(size, Image.BICUBIC) if size else image


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def encode_jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
