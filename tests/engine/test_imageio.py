"""Reading hostile or broken files, metadata removal, formats and atomic writes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import EpsImagePlugin, Image, features

from companion.engine import imageio, receipt, sites
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
    gif = imageio.read_photo(encode(natural_photo("coffee"), "GIF"))
    assert imageio.output_format(png, None) == "png"
    assert imageio.output_format(jpg, None) == "jpeg"
    assert imageio.output_format(gif, None) == "png"
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


# --- only an allowlist of formats is ever handed to a decoder -------------------------------

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n%%EOF\n"
# an iPhone-style HEIC ftyp box, and one whose major brand is the generic HEIF "mif1"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
HEIF_MIF1 = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf" + b"\x00" * 64


def psd_header() -> bytes:
    """The 26-byte header of an 8x8 RGB Photoshop file, with empty sections."""
    return b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 8, 8, 8, 3) + b"\0" * 12


def pillow_file(fmt: str) -> bytes:
    return encode(Image.new("RGB", (8, 8), (10, 120, 200)), fmt)


REFUSED = {
    "EPS": lambda: EPS,
    "JPEG2000": lambda: pillow_file("JPEG2000"),
    "SGI": lambda: pillow_file("SGI"),
    "TGA": lambda: pillow_file("TGA"),
    "TIFF": lambda: pillow_file("TIFF"),
    "BMP": lambda: pillow_file("BMP"),
    "PSD": psd_header,
}


@pytest.fixture
def no_foreign_decoder(monkeypatch):
    """Make every Pillow plugin outside the allowlist (and Ghostscript) explode if used at all."""

    def explode(*args, **kwargs):
        raise AssertionError("a decoder outside the allowlist was invoked")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", explode)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "explode-if-run")
    Image.init()
    for fmt, (_, accept) in list(Image.OPEN.items()):
        if fmt not in {"JPEG", "PNG", "WEBP", "GIF", "AVIF"}:
            monkeypatch.setitem(Image.OPEN, fmt, (explode, accept))


def refusal(call, data: bytes) -> ProtectError:
    with pytest.raises(ProtectError) as info:
        call(data)
    return info.value


@pytest.mark.parametrize("call", [imageio.read_photo, imageio.probe], ids=["read_photo", "probe"])
@pytest.mark.parametrize("fmt", sorted(REFUSED))
def test_formats_outside_the_allowlist_are_refused_without_decoding(fmt, call, no_foreign_decoder):
    error = refusal(call, REFUSED[fmt]())
    assert error.code == "unsupported_format"
    assert "JPEG, PNG, WebP" in error.message


@pytest.mark.parametrize("call", [imageio.read_photo, imageio.probe], ids=["read_photo", "probe"])
@pytest.mark.parametrize("data", [HEIC, HEIF_MIF1], ids=["heic", "mif1-heic"])
def test_heic_is_refused_with_a_hint_to_export_as_jpeg(data, call, no_foreign_decoder):
    error = refusal(call, data)
    assert error.code == "unsupported_format"
    assert "HEIC" in error.message and "JPEG" in error.message


def test_an_eps_file_named_like_a_photo_never_reaches_ghostscript(tmp_path, no_foreign_decoder):
    path = tmp_path / "photo.jpg"
    path.write_bytes(EPS)
    assert refusal(imageio.read_photo, imageio.read_file(path)).code == "unsupported_format"


@pytest.mark.parametrize("call", [imageio.read_photo, imageio.probe], ids=["read_photo", "probe"])
def test_bytes_that_are_no_image_stay_not_an_image(call, no_foreign_decoder):
    assert refusal(call, b"just some text, no picture at all\n" * 4).code == "not_an_image"


ACCEPTED = ["JPEG", "PNG", "WEBP", "GIF"] + (["AVIF"] if features.check("avif") else [])


@pytest.mark.parametrize("fmt", ACCEPTED)
def test_allowlisted_formats_are_read(fmt, no_foreign_decoder):
    data = encode(natural_photo("coffee"), fmt)
    assert imageio.probe(data) == (fmt, (600, 400))
    photo = imageio.read_photo(data)
    assert photo.size == (600, 400) and photo.rgb.mode == "RGB" and photo.source_format == fmt


def test_only_the_first_frame_of_an_animated_gif_is_read():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert imageio.read_photo(buf.getvalue()).rgb.getpixel((8, 8)) == (255, 0, 0)


def test_decode_rgb_uses_the_allowlist_too(no_foreign_decoder):
    with pytest.raises(ProtectError) as info:
        imageio.decode_rgb(pillow_file("TIFF"))
    assert info.value.code == "unsupported_format"
    assert imageio.decode_rgb(pillow_file("PNG")).getpixel((0, 0)) == (10, 120, 200)


def test_every_decode_path_uses_the_one_allowlist(monkeypatch):
    monkeypatch.setattr(imageio, "INPUT_FORMATS", ("PNG",))
    jpeg, image = pillow_file("JPEG"), Image.new("RGB", (8, 8))
    calls = {
        "read_photo": lambda: imageio.read_photo(jpeg),
        "probe": lambda: imageio.probe(jpeg),
        "decode_rgb": lambda: imageio.decode_rgb(jpeg),
        "sites.round_trip": lambda: sites.round_trip(image, "jpeg", 90),
        "receipt.verify": lambda: receipt.verify(jpeg, []),
    }
    for name, call in calls.items():
        with pytest.raises(ProtectError) as info:
            call()
        assert info.value.code == "unsupported_format", name
    assert imageio.decode_rgb(pillow_file("PNG")).size == (8, 8)


def test_a_multi_picture_jpeg_is_read_and_kept_as_jpeg():
    first, second = natural_photo("coffee"), Image.new("RGB", (60, 40))
    mpo = encode(first, "MPO", save_all=True, append_images=[second])
    photo = imageio.read_photo(mpo)
    assert photo.source_format == "MPO" and photo.size == (600, 400)
    assert imageio.output_format(photo, None) == "jpeg"
