"""Loaders for the paper's four datasets, from files the user has downloaded.

`load_dataset(kind, questions, images, limit)` gives one Sample per image: the image file and
the questions asked about it. Nothing is downloaded; each module's docstring says which public
files it reads and where they come from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from companion.datasets import celeba, gqa, textvqa, vqav2
from companion.datasets.base import DatasetError, Sample

__all__ = ["DATASETS", "DatasetError", "Sample", "load_dataset"]

DATASETS = ("vqav2", "gqa", "textvqa", "celeba")

_LOADERS: dict[str, Callable[[Path | None, Path, int | None], list[Sample]]] = {
    "vqav2": vqav2.load,
    "gqa": gqa.load,
    "textvqa": textvqa.load,
    "celeba": celeba.load,
}


def load_dataset(kind: str, questions: Path | None, images: Path, limit: int | None = None) -> list[Sample]:
    """The samples of dataset `kind`, at most `limit` images (all when None), in file order."""
    loader = _LOADERS.get(kind)
    if loader is None:
        raise DatasetError(f"unknown dataset {kind!r}; choose one of {', '.join(DATASETS)}")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be at least 1, not {limit}")
    return loader(questions, images, limit)
