"""`imageprotector check`: a protected photo passes, a clean one does not, bad files are errors."""

from __future__ import annotations

import json

from companion import cli
from tests.conftest import encode, natural_photo


def test_check_tells_protected_from_clean(tmp_path, capsys):
    clean = tmp_path / "astronaut.png"
    clean.write_bytes(encode(natural_photo("astronaut", (300, 300))))
    assert cli.main(["protect", str(clean), "--site", "facebook", "--no-verify"]) == 0
    protected = tmp_path / "astronaut.protected.jpg"
    capsys.readouterr()

    # as a site would serve it back: downloaded after its JPEG 75 re-encoding
    from companion.engine.sites import get_site
    from PIL import Image

    downloaded = tmp_path / "downloaded.jpg"
    get_site("facebook").apply(Image.open(protected), 75).save(downloaded, quality=95)

    code = cli.main(["check", str(protected), str(downloaded), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, lines
    assert all(line["protected"] and line["models"][0]["refusal_rate"] >= 0.9 for line in lines)

    code = cli.main(["check", str(clean)])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("NOT protected") and "demo refuses 0.00" in out


def test_check_reports_bad_files_and_goes_on(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    good = tmp_path / "cat.png"
    good.write_bytes(encode(natural_photo("chelsea", (120, 80))))
    code = cli.main(["check", str(bad), str(good), "--json", "--answers"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and len(lines) == 2
    assert lines[0]["code"] == "not_an_image" and not lines[0]["protected"]
    assert lines[1]["ok"] and len(lines[1]["models"][0]["answers"]) == 22


def test_an_unprotected_portrait_is_not_protected_with_the_default_model(tmp_path, capsys):
    """Issue 9: the first demo refused any face, so a plain portrait read 'protected'."""
    portrait = tmp_path / "grace_hopper.jpg"
    portrait.write_bytes(encode(natural_photo("grace_hopper"), "JPEG", quality=92))
    code = cli.main(["check", str(portrait)])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("NOT protected") and "demo refuses 0.0" in out


def test_a_missing_photo_is_one_line_and_exit_2_before_the_model_loads(tmp_path, capsys):
    from companion import cli

    assert cli.main(["check", str(tmp_path / "gone.jpg")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == f"imageprotector check: error: {tmp_path / 'gone.jpg'}: no such file"
