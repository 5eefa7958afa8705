"""CelebA: the img_align_celeba folder, optionally limited to the test split of list_eval_partition.txt."""

from __future__ import annotations

import logging
from pathlib import Path

from companion.datasets import celeba
from companion.datasets.celeba import CELEBA_QUESTIONS
from tests.datasets.conftest import dataset_error, write_image


def test_whole_folder_in_name_order_with_privacy_questions(tmp_path: Path):
    folder = tmp_path / "img_align_celeba"
    for name in ("000003.jpg", "000001.jpg", "000002.png"):
        write_image(folder / name, "PNG" if name.endswith(".png") else "JPEG")
    (folder / "README.txt").write_text("not an image")
    samples = celeba.load(None, folder)
    assert [s.id for s in samples] == ["000001", "000002", "000003"]
    assert samples[1].image == folder / "000002.png"
    assert all(s.questions == list(CELEBA_QUESTIONS) for s in samples)
    assert len(set(CELEBA_QUESTIONS)) == len(CELEBA_QUESTIONS) >= 8
    assert [s.id for s in celeba.load(None, folder, limit=2)] == ["000001", "000002"]


def test_partition_file_selects_the_test_split(tmp_path: Path, caplog):
    folder = tmp_path / "img_align_celeba"
    for i in range(1, 7):
        write_image(folder / f"{i:06d}.jpg")
    write_image(folder / "000008.png")  # the png variant of the dataset
    partition = tmp_path / "list_eval_partition.txt"
    partition.write_text(
        "000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n000005.jpg 2\n000007.jpg 2\n000008.jpg 2\n"
    )
    with caplog.at_level(logging.WARNING):
        samples = celeba.load(partition, folder)
    assert [s.id for s in samples] == ["000004", "000005", "000008"]  # 000007 is missing
    assert samples[2].image == folder / "000008.png"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 of 4" in warnings[0].getMessage()
    assert [s.id for s in celeba.load(partition, folder, limit=1)] == ["000004"]


def test_bad_inputs(tmp_path: Path):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    assert "no .jpg or .png" in dataset_error(celeba.load, None, folder)
    write_image(folder / "000001.jpg")
    partition = tmp_path / "list_eval_partition.txt"
    partition.write_text("000001.jpg 0\n000002.jpg test\n")
    assert "line 2" in dataset_error(celeba.load, partition, folder)
    partition.write_text("000001.jpg 0\n")
    assert "no test-split" in dataset_error(celeba.load, partition, folder)
    assert "not found" in dataset_error(celeba.load, tmp_path / "nope.txt", folder)
