"""`protect --site`: the output is already at the site's size, in a format the site keeps."""

from __future__ import annotations

import json

from PIL import Image

from companion import cli
from tests.conftest import encode, natural_photo


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
