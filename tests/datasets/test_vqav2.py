"""VQAv2: the official questions JSON with COCO 2014 or 2017 image names."""

from __future__ import annotations

import logging
from pathlib import Path

from companion.datasets import vqav2
from tests.datasets.conftest import dataset_error, write_image, write_json


def questions_json(entries: list[tuple[int, str]], subtype: str = "val2014") -> dict:
    """The structure of v2_OpenEnded_mscoco_*_questions.json."""
    return {
        "info": {"description": "VQA v2"},
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "license": {"name": "CC"},
        "data_subtype": subtype,
        "questions": [
            {"image_id": image_id, "question": question, "question_id": image_id * 1000 + i}
            for i, (image_id, question) in enumerate(entries)
        ],
    }


ENTRIES = [
    (262148, "What is on the table?"),
    (1, "Is it raining?"),
    (262148, "What colour is the cup?"),
    (262148, "What is on the table?"),  # repeated: kept once
    (393225, "How many people?"),
]


def test_groups_questions_by_image_in_file_order(tmp_path: Path):
    qfile = write_json(tmp_path / "v2_OpenEnded_mscoco_val2014_questions.json", questions_json(ENTRIES))
    for image_id in (1, 262148, 393225):
        write_image(tmp_path / "val2014" / f"COCO_val2014_{image_id:012d}.jpg")
    samples = vqav2.load(qfile, tmp_path / "val2014")
    assert [s.id for s in samples] == ["262148", "1", "393225"]
    assert samples[0].questions == ["What is on the table?", "What colour is the cup?"]
    assert samples[1].questions == ["Is it raining?"]
    assert samples[0].image == tmp_path / "val2014" / "COCO_val2014_000000262148.jpg"


def test_accepts_coco_2017_names_and_test_dev(tmp_path: Path):
    qfile = write_json(tmp_path / "q.json", questions_json(ENTRIES))
    write_image(tmp_path / "val2017" / "000000262148.jpg")
    samples = vqav2.load(qfile, tmp_path / "val2017", limit=1)
    assert samples[0].image == tmp_path / "val2017" / "000000262148.jpg"

    qfile = write_json(tmp_path / "dev.json", questions_json([(7, "Who is this?")], subtype="test-dev2015"))
    write_image(tmp_path / "test2015" / "COCO_test2015_000000000007.jpg")
    assert vqav2.load(qfile, tmp_path / "test2015")[0].image.name == "COCO_test2015_000000000007.jpg"


def test_limit_and_missing_images(tmp_path: Path, caplog):
    qfile = write_json(tmp_path / "q.json", questions_json(ENTRIES))
    images = tmp_path / "val2014"
    for image_id in (262148, 393225):  # image 1 is missing
        write_image(images / f"COCO_val2014_{image_id:012d}.jpg")
    assert [s.id for s in vqav2.load(qfile, images, limit=1)] == ["262148"]
    with caplog.at_level(logging.WARNING):
        samples = vqav2.load(qfile, images)
    assert [s.id for s in samples] == ["262148", "393225"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 of 3" in warnings[0].getMessage()


def test_no_image_found_is_an_error(tmp_path: Path):
    qfile = write_json(tmp_path / "q.json", questions_json(ENTRIES))
    (tmp_path / "empty").mkdir()
    assert "COCO_val2014_000000262148.jpg" in dataset_error(vqav2.load, qfile, tmp_path / "empty")


def test_wrong_structure_names_the_key(tmp_path: Path):
    (tmp_path / "images").mkdir()
    qfile = write_json(tmp_path / "q.json", {"annotations": []})
    assert "'questions'" in dataset_error(vqav2.load, qfile, tmp_path / "images")
    bad = questions_json(ENTRIES)
    del bad["questions"][1]["image_id"]
    qfile = write_json(tmp_path / "q.json", bad)
    message = dataset_error(vqav2.load, qfile, tmp_path / "images")
    assert "questions[1]" in message and "'image_id'" in message
    assert "needs its questions file" in dataset_error(vqav2.load, None, tmp_path / "images")
