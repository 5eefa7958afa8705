"""`imageprotector evaluate`: a readable table, parseable JSON, a chart, datasets and errors."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from companion import cli
from companion.engine.distortions import STANDARD
from tests.conftest import encode, natural_photo

QUESTIONS = ["Who is this?", "Where was this taken?", "What is in the picture?"]


@pytest.fixture
def photos(tmp_path):
    paths = []
    for name, fmt in [("astronaut", "PNG"), ("chelsea", "JPEG")]:
        path = tmp_path / f"{name}.{fmt.lower()}"
        path.write_bytes(encode(natural_photo(name, (240, 160)), fmt))
        paths.append(str(path))
    qfile = tmp_path / "questions.txt"
    qfile.write_text("# three questions\n" + "\n".join(QUESTIONS) + "\n")
    return paths, str(qfile)


def test_json_report_and_chart(photos, tmp_path, capsys):
    paths, qfile = photos
    chart = tmp_path / "out.png"
    code = cli.main(["evaluate", *paths, "--site", "x", "--questions", qfile, "--json", "--plot", str(chart)])
    text = capsys.readouterr().out
    report = json.loads(text)
    assert code == 0
    assert not re.search(r"\d\.\d{5,}", text)  # figures to 4 decimals at most
    assert report["distortions"] == [*STANDARD, "site:x"]
    rows = {r["distortion"]: r for r in report["summary"]}
    assert rows["none"]["protected_refusal"] >= 0.9 and rows["none"]["clean_refusal"] <= 0.1
    assert rows["none"]["clean_utility"] == pytest.approx(1 - rows["none"]["clean_refusal"])
    assert 30 < report["psnr"] < 60 and 0.5 < report["ssim"] < 1 and report["seconds_per_photo"] > 0
    assert len(report["photos"]) == 2 and all(len(p["clean"]) == len(STANDARD) + 1 for p in report["photos"])
    image = Image.open(chart)
    assert image.format == "PNG" and image.width > 600 and image.height > 300


def test_table_output_and_unreadable_photo(photos, tmp_path, capsys):
    paths, qfile = photos
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    code = cli.main(["evaluate", paths[0], str(broken), "--questions", qfile, "--no-robust", "--steps", "20"])
    out = capsys.readouterr().out
    assert code == 1  # one photo could not be evaluated
    assert "1 of 2 photos evaluated" in out and "refusal protected" in out and "jpeg75" in out
    assert f"error  {broken}" in out


def test_dataset_input(tmp_path, capsys):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    natural_photo("astronaut", (178, 218)).save(folder / "000001.jpg", quality=92)
    code = cli.main(["evaluate", "--dataset", "celeba", "--dataset-images", str(folder), "--json", "--steps", "30"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and [p["name"] for p in report["photos"]] == ["celeba:000001"]


def test_nothing_to_evaluate_is_a_usage_error(capsys):
    assert cli.main(["evaluate"]) == 2
    assert "give photos" in capsys.readouterr().err


def test_transfer_protects_against_each_model_and_all_and_asks_every_one(photos, capsys):
    paths, qfile = photos
    code = cli.main(["evaluate", paths[0], "--transfer", "--model", "demo", "--model", "zoo-chatml", "--site",
                     "instagram", "--questions", qfile, "--steps", "60", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["photos"] == [paths[0]]
    assert report["models"] == ["demo", "zoo-chatml"]
    assert list(report["refusal"]) == ["clean", "demo", "zoo-chatml", "all 2"]
    assert report["distortions"] == ["none", "site:instagram"]
    refusal = report["refusal"]
    for model in report["models"]:
        assert refusal["clean"]["none"][model] <= 0.34  # a third: one of the three questions at most
        assert refusal["all 2"]["none"][model] == 1.0  # the ensemble protects against each member
        assert refusal[model]["none"][model] == 1.0  # and each alone against itself


def test_transfer_table_and_its_usage_errors(photos, capsys):
    paths, qfile = photos
    assert cli.main(["evaluate", paths[0], "--transfer", "--questions", qfile]) == 2
    assert "two or more models" in capsys.readouterr().err
    code = cli.main(["evaluate", paths[0], "--transfer", "--model", "demo-families", "--questions", qfile,
                     "--steps", "3", "--no-robust"])
    out = capsys.readouterr().out
    assert code == 0
    assert "after: none" in out and "after: site:generic" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("protected with"))
    assert [c.strip() for c in header.split("|")[1:]] == ["demo", "demo-qwen2_5_vl", "demo-instructblip",
                                                         "demo-phi4_multimodal"]
    assert sum(line.strip().startswith(("clean", "demo", "all 4")) for line in out.splitlines()) == 2 * 6
