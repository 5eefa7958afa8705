"""Helpers that write tiny fixture files in the datasets' public formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from companion.engine.errors import ProtectError


def write_image(path: Path, fmt: str = "JPEG") -> Path:
    """A real 8x8 RGB image file at `path` (parents created), so loaders see genuine images."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 80, 40)).save(path, fmt)
    return path


def write_json(path: Path, data: Any) -> Path:
    """`data` as a JSON file at `path`."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def dataset_error(call, *args, **kwargs) -> str:
    """Run `call`, assert it raises ProtectError with code "dataset", and return its message."""
    with pytest.raises(ProtectError) as info:
        call(*args, **kwargs)
    assert info.value.code == "dataset"
    assert "\n" not in info.value.message
    return info.value.message
