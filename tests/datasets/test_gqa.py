"""GQA: the balanced questions JSON keyed by question id, images named by imageId."""

from __future__ import annotations

import logging
from pathlib import Path

from companion.datasets import gqa
from tests.datasets.conftest import dataset_error, write_image, write_json


def questions_json(entries: list[tuple[str, str]]) -> dict:
    """The structure of val_balanced_questions.json / testdev_balanced_questions.json."""
    return {
        str(20968379 + i): {
            "semantic": [],
            "entailed": [],
            "equivalent": [],
            "question": question,
            "imageId": image_id,
            "isBalanced": True,
            "groups": {"global": None, "local": "13-car"},
            "answer": "yes",
            "semanticStr": "",
            "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
            "types": {"detailed": "verifyAttr", "semantic": "attr", "structural": "verify"},
            "fullAnswer": "Yes, it is.",
        }
        for i, (image_id, question) in enumerate(entries)
    }


ENTRIES = [
    ("2375429", "Is the car red?"),
    ("n161313", "What is the man holding?"),
    ("2375429", "Who is driving?"),
    ("2375429", "Is the car red?"),
    ("2417468", "Where is the dog?"),
]


def test_groups_questions_by_image_in_file_order(tmp_path: Path):
    qfile = write_json(tmp_path / "testdev_balanced_questions.json", questions_json(ENTRIES))
    for image_id in ("2375429", "n161313", "2417468"):
        write_image(tmp_path / "images" / f"{image_id}.jpg")
    samples = gqa.load(qfile, tmp_path / "images")
    assert [s.id for s in samples] == ["2375429", "n161313", "2417468"]
    assert samples[0].questions == ["Is the car red?", "Who is driving?"]
    assert samples[1].image == tmp_path / "images" / "n161313.jpg"
    assert [s.id for s in gqa.load(qfile, tmp_path / "images", limit=2)] == ["2375429", "n161313"]


def test_missing_images_are_skipped_with_one_warning(tmp_path: Path, caplog):
    qfile = write_json(tmp_path / "val_balanced_questions.json", questions_json(ENTRIES))
    write_image(tmp_path / "images" / "2417468.jpg")
    with caplog.at_level(logging.WARNING):
        samples = gqa.load(qfile, tmp_path / "images")
    assert [(s.id, s.questions) for s in samples] == [("2417468", ["Where is the dog?"])]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 of 3" in warnings[0].getMessage()


def test_wrong_structure(tmp_path: Path):
    (tmp_path / "images").mkdir()
    qfile = write_json(tmp_path / "q.json", [{"imageId": "1", "question": "?"}])
    assert "keyed by question id" in dataset_error(gqa.load, qfile, tmp_path / "images")
    qfile = write_json(tmp_path / "q.json", {"7": {"image": "1", "question": "Is it?"}})
    message = dataset_error(gqa.load, qfile, tmp_path / "images")
    assert "question 7" in message and "'imageId'" in message
    qfile = write_json(tmp_path / "q.json", {"7": {"imageId": "../secret", "question": "Is it?"}})
    assert "plain file name" in dataset_error(gqa.load, qfile, tmp_path / "images")
