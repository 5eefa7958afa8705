"""TextVQA: the official JSON with a "data" list, images named by image_id."""

from __future__ import annotations

import logging
from pathlib import Path

from companion.datasets import textvqa
from tests.datasets.conftest import dataset_error, write_image, write_json


def questions_json(entries: list[tuple[str, str]]) -> dict:
    """The structure of TextVQA_0.5.1_val.json."""
    return {
        "dataset_type": "val",
        "dataset_name": "textvqa",
        "dataset_version": "0.5.1",
        "data": [
            {
                "question": question,
                "image_id": image_id,
                "image_classes": ["Vehicle", "Car"],
                "flickr_original_url": "https://example.invalid/o.jpg",
                "flickr_300k_url": "https://example.invalid/s.jpg",
                "image_width": 1024,
                "image_height": 664,
                "answers": ["nous les gosses"] * 10,
                "question_tokens": question.rstrip("?").split(),
                "question_id": 34602 + i,
                "set_name": "val",
            }
            for i, (image_id, question) in enumerate(entries)
        ],
    }


ENTRIES = [
    ("003a8ae2ef43b901", "What does the sign say?"),
    ("00685bc495504d61", "What brand is the phone?"),
    ("003a8ae2ef43b901", "What is the speed limit?"),
    ("003a8ae2ef43b901", "What does the sign say?"),
    ("0a0bc91825468c45", "What is written on the shirt?"),
]


def test_groups_questions_by_image_in_file_order(tmp_path: Path):
    qfile = write_json(tmp_path / "TextVQA_0.5.1_val.json", questions_json(ENTRIES))
    for image_id in ("003a8ae2ef43b901", "00685bc495504d61", "0a0bc91825468c45"):
        write_image(tmp_path / "train_images" / f"{image_id}.jpg")
    samples = textvqa.load(qfile, tmp_path / "train_images")
    assert [s.id for s in samples] == ["003a8ae2ef43b901", "00685bc495504d61", "0a0bc91825468c45"]
    assert samples[0].questions == ["What does the sign say?", "What is the speed limit?"]
    assert samples[2].image == tmp_path / "train_images" / "0a0bc91825468c45.jpg"
    assert [s.id for s in textvqa.load(qfile, tmp_path / "train_images", limit=1)] == ["003a8ae2ef43b901"]


def test_missing_images_are_skipped_with_one_warning(tmp_path: Path, caplog):
    qfile = write_json(tmp_path / "TextVQA_0.5.1_val.json", questions_json(ENTRIES))
    write_image(tmp_path / "train_images" / "00685bc495504d61.jpg")
    write_image(tmp_path / "train_images" / "0a0bc91825468c45.jpg")
    with caplog.at_level(logging.WARNING):
        samples = textvqa.load(qfile, tmp_path / "train_images", limit=1)
    assert [s.id for s in samples] == ["00685bc495504d61"]  # the limit counts images that exist
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 of 2" in warnings[0].getMessage()


def test_wrong_structure_names_the_key(tmp_path: Path):
    (tmp_path / "images").mkdir()
    qfile = write_json(tmp_path / "q.json", {"dataset_name": "textvqa"})
    assert "'data'" in dataset_error(textvqa.load, qfile, tmp_path / "images")
    qfile = write_json(tmp_path / "q.json", {"data": [{"image_id": "x", "question": 3}]})
    message = dataset_error(textvqa.load, qfile, tmp_path / "images")
    assert "data[0]" in message and "'question'" in message
    qfile = write_json(tmp_path / "q.json", {"data": []})
    assert "no questions" in dataset_error(textvqa.load, qfile, tmp_path / "images")
