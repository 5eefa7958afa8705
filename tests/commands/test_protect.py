"""`imageprotector protect` and `imageprotector models` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from companion import cli
from tests.conftest import encode, natural_photo
from tests.engine.test_imageio import bomb_png

FAST = ["--steps", "3", "--no-verify"]


def run(capsys, *args: str) -> tuple[int, list[dict]]:
    code = cli.main(["protect", *args, "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def bad_inputs(folder: Path) -> dict[str, Path]:
    files = {
        "empty": b"",
        "not_an_image": b"hello, I am a text file\n" * 20,
        "corrupt": encode(natural_photo("chelsea"), "JPEG", quality=90)[:5000],
        "too_large": bomb_png(),
    }
    paths = {}
    for code, data in files.items():
        paths[code] = folder / f"{code}.jpg"
        paths[code].write_bytes(data)
    return paths


def test_bad_inputs_fail_alone_while_the_batch_goes_on(tmp_path, capsys):
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_photo("coffee", (120, 80))))
    bad = bad_inputs(tmp_path)
    before = {p: p.read_bytes() for p in [good, *bad.values()] if p.exists()}
    code, lines = run(capsys, str(bad["empty"]), str(good), *[str(p) for k, p in bad.items() if k != "empty"],
                      "--out-dir", str(tmp_path / "out"), *FAST)
    assert code == 1
    by_input = {Path(line["input"]).name: line for line in lines}
    assert by_input["good.png"]["ok"] and Path(by_input["good.png"]["output"]).is_file()
    for expected, path in bad.items():
        line = by_input[path.name]
        assert not line["ok"] and line["code"] == expected and line["error"] and "\n" not in line["error"]
    for path, data in before.items():  # originals are never modified
        assert path.read_bytes() == data


def test_text_output_is_one_line_per_photo(tmp_path, capsys):
    good = tmp_path / "holiday.jpg"
    good.write_bytes(encode(natural_photo("rocket", (96, 64)), "JPEG"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo at all")
    code = cli.main(["protect", str(good), str(broken), *FAST])
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and len(out) == 2
    assert out[0].startswith("ok") and "holiday.protected.jpg" in out[0]
    assert out[1].startswith("error") and "broken.jpg" in out[1] and "[not_an_image]" in out[1]
    assert Image.open(tmp_path / "holiday.protected.jpg").format == "JPEG"


def test_json_fields_and_output_naming(tmp_path, capsys):
    src = tmp_path / "cat.png"
    src.write_bytes(encode(natural_photo("chelsea", (90, 60))))
    code, [line] = run(capsys, str(src), "--steps", "2")
    for key in ("input", "output", "ok", "error", "steps", "seconds", "refusal_rate", "psnr", "ssim", "linf"):
        assert key in line
    assert line["output"] == str(tmp_path / "cat.protected.png")
    assert line["steps"] <= 2 and 0 <= line["refusal_rate"] <= 1 and line["linf"] <= 8
    assert 0.5 < line["ssim"] < 1  # changed, but not much


def test_output_option_and_format(tmp_path, capsys):
    src = tmp_path / "a.png"
    src.write_bytes(encode(natural_photo("coffee", (90, 60))))
    code, [line] = run(capsys, str(src), "-o", str(tmp_path / "b.jpg"), "--format", "jpeg", *FAST)
    assert code == 0 and Image.open(tmp_path / "b.jpg").format == "JPEG"


def test_refuses_to_overwrite_the_original(tmp_path, capsys):
    src = tmp_path / "a.png"
    data = encode(natural_photo("coffee", (90, 60)))
    src.write_bytes(data)
    code, [line] = run(capsys, str(src), "-o", str(src), *FAST)
    assert code == 1 and line["code"] == "would_overwrite" and src.read_bytes() == data


def test_unknown_model_is_one_line_error(tmp_path, capsys):
    src = tmp_path / "a.png"
    src.write_bytes(encode(natural_photo("coffee", (90, 60))))
    code = cli.main(["protect", str(src), "--model", "no-such-model"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown model 'no-such-model'" in err[0]


def test_models_lists_the_demo(capsys):
    assert cli.main(["models", "--json"]) == 0
    models = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert models[0]["name"] == "demo" and Path(models[0]["path"], "config.json").is_file()


def test_console_script_runs_end_to_end(tmp_path):
    """The installed `imageprotector` command, in a fresh process, with the real receipt."""
    src = tmp_path / "astro.png"
    src.write_bytes(encode(natural_photo("astronaut", (128, 128))))
    exe = Path(sys.executable).with_name("imageprotector")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(exe), "protect", str(src), "--json", "--steps", "5"], capture_output=True, text=True,
                          env=env, timeout=600)
    line = json.loads(proc.stdout)
    assert line["ok"] and Path(line["output"]).is_file(), proc.stderr
    assert "Traceback" not in proc.stderr


def test_instagram_output_is_a_jpeg_1080_wide(tmp_path, capsys):
    src = tmp_path / "beach.png"
    src.write_bytes(encode(natural_photo("coffee", (1600, 1067))))
    code = cli.main(["protect", str(src), "--site", "instagram", "--steps", "2", "--no-verify", "--json"])
    line = json.loads(capsys.readouterr().out)
    assert code == 0 and line["site"] == "instagram"
    out = Image.open(line["output"])
    assert line["output"].endswith("beach.protected.jpg")
    assert out.format == "JPEG" and out.size == (1080, 720)


def test_generic_keeps_the_format_and_max_size_zero_keeps_the_size(tmp_path, capsys):
    src = tmp_path / "big.png"
    src.write_bytes(encode(natural_photo("moon", (2100, 300))))
    code = cli.main(["protect", str(src), "--max-size", "0", "--steps", "1", "--no-verify", "--no-robust", "--json"])
    line = json.loads(capsys.readouterr().out)
    assert code == 0
    out = Image.open(line["output"])
    assert out.format == "PNG" and out.size == (2100, 300)
    code = cli.main(["protect", str(src), "-o", str(tmp_path / "s.png"), "--steps", "1", "--no-verify", "--json"])
    assert Image.open(tmp_path / "s.png").size == (2048, 293)  # generic's default cap


def test_unknown_site_is_a_usage_error(tmp_path, capsys):
    src = tmp_path / "a.png"
    src.write_bytes(encode(natural_photo("coffee", (90, 60))))
    try:
        cli.main(["protect", str(src), "--site", "myspace"])
    except SystemExit as exc:  # argparse: not one of the choices
        assert exc.code == 2
    assert "myspace" in capsys.readouterr().err


def test_a_missing_or_unreadable_input_stops_the_batch_before_any_work(tmp_path, capsys):
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_photo("coffee", (64, 48))))
    code = cli.main(["protect", str(good), str(tmp_path / "missing.jpg"), str(tmp_path), *FAST])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [f"imageprotector protect: error: {tmp_path / 'missing.jpg'}: no such file",
                                         f"imageprotector protect: error: {tmp_path}: is a folder, not a photo"]
    assert not (tmp_path / "good.protected.png").exists()  # nothing was done


def test_bad_options_are_one_usage_error_before_anything_runs(tmp_path, capsys):
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_photo("coffee", (64, 48))))
    for option, value, words in [("--epsilon", "0", "must be from 1 to 64, not 0"),
                                 ("--max-size", "-5", "must be 32 or more (or 0), not -5"),
                                 ("--steps", "many", "'many' is not a whole number")]:
        try:
            cli.main(["protect", str(good), option, value])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{option} {value} was accepted")
        [line] = capsys.readouterr().err.splitlines()
        assert line == (f"imageprotector protect: error: argument {option}: {words} "
                        "(see imageprotector protect --help)")
    assert not (tmp_path / "good.protected.png").exists()


def test_an_existing_output_is_kept_unless_force(tmp_path, capsys):
    src = tmp_path / "me.png"
    src.write_bytes(encode(natural_photo("astronaut", (64, 48))))
    earlier = tmp_path / "me.protected.png"
    earlier.write_bytes(b"an earlier result the user keeps")
    code, [line] = run(capsys, str(src), *FAST)
    assert code == 1 and line["code"] == "output_exists" and "--force" in line["error"]
    assert line["steps"] == 0  # refused before the work, not after
    assert earlier.read_bytes() == b"an earlier result the user keeps"
    code, [line] = run(capsys, str(src), *FAST, "--force")
    assert code == 0 and line["ok"] and Image.open(earlier).size == (64, 48)


def test_one_step_reads_step_and_no_verify_exits_0_as_documented(tmp_path, capsys):
    src = tmp_path / "one.png"
    src.write_bytes(encode(natural_photo("astronaut", (64, 48))))
    code = cli.main(["protect", str(src), "--steps", "1", "--no-verify"])
    [line] = capsys.readouterr().out.splitlines()
    assert code == 0  # written, though not verified: the README says --no-verify only promises that
    assert ", 1 step, " in line and line.endswith("not verified")


def test_every_json_row_has_the_fields_the_readme_documents_in_order(tmp_path, capsys):
    import re

    from companion.commands.protect import JSON_FIELDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("The `--json` rows of `protect`"):]
    table = table[:table.index("\n\n", table.index("| field |"))]
    documented = [name for row in re.findall(r"^\s*\| (`[^|]+`) \|", table, re.M)
                  for name in re.findall(r"`(\w+)`", row)]
    assert documented == list(JSON_FIELDS)
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_photo("coffee", (64, 48))))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"no photo")
    code, rows = run(capsys, str(good), str(broken), "--steps", "2")
    assert [list(row) for row in rows] == [list(JSON_FIELDS)] * 2
    ok, failed = rows
    assert ok["ok"] and ok["code"] is None and isinstance(ok["verified"], bool) and ok["width"] == 64
    assert not failed["ok"] and failed["code"] == "not_an_image" and failed["verified"] is None
    assert all(len(str(ok[k]).split(".")[-1]) <= 4 for k in ("refusal_rate", "site_refusal_rate", "ssim"))
