"""Shared fixtures: the demo model loaded once, and natural photos from scikit-image."""

from __future__ import annotations

import io
import os

import pytest
import torch
from PIL import Image

from benchmarks.photos import natural_photo  # noqa: F401 - re-exported for tests
from companion.engine.protect import Engine
from companion.models.registry import load_adapter

# two threads, as CI's two cores; IMAGEPROTECTOR_TEST_THREADS=1 leaves a core to a training run beside the tests
torch.set_num_threads(int(os.environ.get("IMAGEPROTECTOR_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def demo_adapter():
    return load_adapter("demo", device="cpu")


@pytest.fixture(scope="session")
def face_adapter():
    """The face demo: refuses any photo with a face, so one step or two moves it (mechanics tests)."""
    return load_adapter("demo-face", device="cpu")


@pytest.fixture(scope="session")
def engine(demo_adapter):
    return Engine([demo_adapter])


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()
