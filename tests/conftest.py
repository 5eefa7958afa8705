"""Shared fixtures: the demo model loaded once, and natural photos from scikit-image."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from companion.engine.protect import Engine
from companion.models.registry import load_adapter

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def demo_adapter():
    return load_adapter("demo", device="cpu")


@pytest.fixture(scope="session")
def engine(demo_adapter):
    return Engine([demo_adapter])


def natural_photo(name: str, size: tuple[int, int] | None = None) -> Image.Image:
    """A real photograph shipped with scikit-image, optionally resized to (width, height)."""
    import skimage.data

    arr = getattr(skimage.data, name)()
    if isinstance(arr, tuple):
        arr = arr[0]
    image = Image.fromarray(np.asarray(arr)).convert("RGB")
    return image.resize(size, Image.BICUBIC) if size else image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()
