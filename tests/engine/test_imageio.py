"""Reading hostile or broken files, metadata removal, formats and atomic writes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from companion.engine import imageio
from companion.engine.errors import ProtectError
from tests.conftest import encode, natural_photo


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares `width` x `height` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def error_code(data: bytes) -> str:
    with pytest.raises(ProtectError) as info:
        imageio.read_photo(data)
    return info.value.code


def test_empty_file():
    assert error_code(b"") == "empty"


def test_non_image():
    assert error_code(b"%PDF-1.4 this is not a photo\n" * 10) == "not_an_image"


def test_truncated_jpeg():
    data = encode(natural_photo("chelsea"), "JPEG", quality=90)
    assert error_code(data[: len(data) // 2]) == "corrupt"


def test_decompression_bomb_is_refused_from_the_header():
    assert error_code(bomb_png()) == "too_large"
    # below Pillow's own bomb limit, our pixel cap still applies
    with pytest.raises(ProtectError) as info:
        imageio.read_photo(bomb_png(9_000, 9_000), max_pixels=50_000_000)
    assert info.value.code == "too_large"


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ProtectError) as info:
        imageio.read_file(tmp_path / "nope.jpg")
    assert info.value.code == "not_found"
    with pytest.raises(ProtectError) as info:
        imageio.read_file(tmp_path)
    assert info.value.code == "not_a_file"


def test_exif_orientation_is_applied_and_metadata_dropped():
    image = natural_photo("chelsea")  # 451 x 300
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "CameraMaker"
    gps = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    exif[0x8825] = gps
    source = encode(image, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)  # the location is really there
    photo = imageio.read_photo(source)
    assert photo.size == (300, 451)
    out = Image.open(io.BytesIO(imageio.encode(photo.rgb, "jpeg")))
    assert not out.getexif()
    assert "exif" not in out.info


def test_jpeg_is_written_at_quality_95_without_chroma_subsampling():
    data = imageio.encode(natural_photo("coffee"), "jpeg")
    from PIL import JpegImagePlugin

    out = Image.open(io.BytesIO(data))
    assert JpegImagePlugin.get_sampling(out) == 0  # 4:4:4
    # Pillow's estimate of the quality from the quantisation tables
    q = out.quantization[0]
    assert q[0] <= 2


def test_format_kept_or_overridden():
    png = imageio.read_photo(encode(natural_photo("coffee"), "PNG"))
    jpg = imageio.read_photo(encode(natural_photo("coffee"), "JPEG"))
    bmp = imageio.read_photo(encode(natural_photo("coffee"), "BMP"))
    assert imageio.output_format(png, None) == "png"
    assert imageio.output_format(jpg, None) == "jpeg"
    assert imageio.output_format(bmp, None) == "png"
    assert imageio.output_format(jpg, "png") == "png"
    with pytest.raises(ProtectError):
        imageio.output_format(jpg, "gif")


def test_transparency_survives_png():
    rgba = natural_photo("coffee").convert("RGBA")
    rgba.putalpha(128)
    photo = imageio.read_photo(encode(rgba, "PNG"))
    out = Image.open(io.BytesIO(imageio.encode(photo.rgb, "png", photo.alpha)))
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (128, 128)


def test_write_atomic_replaces_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "sub" / "out.png"
    imageio.write_atomic(target, b"first")
    imageio.write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]


def test_resize_to_gives_the_exact_size_and_keeps_an_image_already_there():
    image = Image.new("RGB", (4000, 3000))
    assert imageio.resize_to(image, (2048, 1536)).size == (2048, 1536)
    assert imageio.resize_to(image, (4000, 3000)) is image
