"""load_dataset: dispatch to the loaders, and the errors every kind shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.datasets import DATASETS, Sample, load_dataset
from tests.datasets.conftest import dataset_error, write_image, write_json

JSON_KINDS = ("vqav2", "gqa", "textvqa")


def test_dispatches_to_each_kind(tmp_path: Path):
    images = tmp_path / "images"
    write_image(images / "2375429.jpg")
    qfile = write_json(tmp_path / "q.json", {"1": {"imageId": "2375429", "question": "Is the car red?"}})
    assert load_dataset("gqa", qfile, images) == [Sample(images / "2375429.jpg", ["Is the car red?"], "2375429")]
    assert [s.id for s in load_dataset("celeba", None, images)] == ["2375429"]
    assert DATASETS == ("vqav2", "gqa", "textvqa", "celeba")


def test_unknown_kind_and_bad_limit(tmp_path: Path):
    assert "coco" in dataset_error(load_dataset, "coco", None, tmp_path)
    assert "limit" in dataset_error(load_dataset, "celeba", None, tmp_path, limit=0)


@pytest.mark.parametrize("kind", JSON_KINDS)
def test_questions_file_required(kind: str, tmp_path: Path):
    assert "needs its questions file" in dataset_error(load_dataset, kind, None, tmp_path)
    assert "not found" in dataset_error(load_dataset, kind, tmp_path / "missing.json", tmp_path)
    assert "not a file" in dataset_error(load_dataset, kind, tmp_path, tmp_path)


@pytest.mark.parametrize("kind", JSON_KINDS)
def test_invalid_json(kind: str, tmp_path: Path):
    qfile = tmp_path / "q.json"
    qfile.write_text('{"questions": [')  # a truncated download
    assert "not valid JSON" in dataset_error(load_dataset, kind, qfile, tmp_path)


@pytest.mark.parametrize("kind", DATASETS)
def test_images_folder_must_exist(kind: str, tmp_path: Path):
    qfile = write_json(tmp_path / "q.json", {})
    assert "images folder not found" in dataset_error(load_dataset, kind, qfile, tmp_path / "missing")
    assert "not a folder" in dataset_error(load_dataset, kind, qfile, qfile)
