"""JPEG output stays within epsilon of the original even where the codec alone moves pixels."""

from __future__ import annotations

import io
import itertools
import struct
import threading

import numpy as np
import pytest
from PIL import Image, ImageCms

from companion.engine import imageio, quality
from companion.engine.protect import _encode_within, _jpeg_quality
from tests.conftest import encode, natural_photo


def decoded_jpeg(name: str) -> Image.Image:
    return Image.open(io.BytesIO(encode(natural_photo(name), "JPEG", quality=92))).convert("RGB")


def test_quality_95_is_kept_where_the_photo_survives_it():
    assert _jpeg_quality(decoded_jpeg("moon"), 8) == 95


def test_a_higher_quality_where_95_alone_moves_the_photo_too_far():
    base = decoded_jpeg("retina")
    moved = quality.linf(base, imageio.decode_rgb(imageio.encode(base, "jpeg", quality=95)))
    assert moved > 4  # saturated red edges: quality 95 alone uses most of the budget
    assert _jpeg_quality(base, 8) > 95


def test_encoded_file_is_within_epsilon():
    base = decoded_jpeg("retina")
    rng = np.random.default_rng(0)
    # a blocky +-8 perturbation, the kind the attack makes through a downscaling resize
    blocks = rng.choice([-8, 8], size=(base.height // 16 + 1, base.width // 16 + 1, 3))
    delta = np.kron(blocks, np.ones((16, 16, 1)))[: base.height, : base.width]
    protected = Image.fromarray(np.clip(np.asarray(base, np.int16) + delta, 0, 255).astype(np.uint8))
    data = _encode_within(base, protected, "jpeg", 8, None, None, _jpeg_quality(base, 8))
    assert quality.linf(base, imageio.decode_rgb(data)) <= 8



def test_only_the_blocks_jpeg_cannot_hold_give_way():
    """Per-pixel noise at +-eps (what a sign attack makes on a small photo) cannot stay
    within eps through JPEG, even at quality 100. Only the blocks where it overshoots may
    give way: the rest of the perturbation must reach the file nearly as the attack made it."""
    base = decoded_jpeg("coffee")
    rng = np.random.default_rng(1)
    blocks = rng.choice([-8, 8], size=(base.height // 16 + 1, base.width // 16 + 1, 3))
    delta = np.kron(blocks, np.ones((16, 16, 1), np.int64))[: base.height, : base.width]
    delta[:64, :64] = rng.choice([-8, 8], size=(64, 64, 3))  # one corner of fine-grained noise
    ref = np.asarray(base, np.int16)
    intended = np.clip(ref + delta, 0, 255) - ref
    protected = Image.fromarray((ref + intended).astype(np.uint8))
    data = _encode_within(base, protected, "jpeg", 8, None, None, _jpeg_quality(base, 8))
    written = np.asarray(imageio.decode_rgb(data), np.int16) - ref
    assert np.abs(written).max() <= 8
    rest = np.ones(ref.shape[:2], bool)
    rest[:64, :64] = False
    kept = (written * np.sign(intended))[rest].sum() / np.abs(intended)[rest].sum()
    # quality 100 alone errs by +-1 on pixels at +-eps, so some loss is inevitable; shrinking
    # the whole perturbation to fix the corner (as the encoder once did) kept 0.62
    assert kept > 0.75


def test_saturated_colours_keep_the_perturbation_in_the_file():
    """Per-pixel noise on a photo of saturated colours (the astronaut's flag and suit), at
    quality 100: moving the overshooting pixels back, round after round, converges before
    any 8x8 block has to give way, and the file keeps the perturbation the attack made.
    With 4 rounds before blocks gave way it kept 0.47 of it (and 5% of pixels within a grey
    level of the attack's), with 32 rounds 0.61 (18%)."""
    base = natural_photo("astronaut", (256, 256)).convert("RGB")
    ref = np.asarray(base, np.int16)
    intended = np.clip(ref + np.random.default_rng(0).choice([-4, 4], size=ref.shape), 0, 255) - ref
    assert _jpeg_quality(base, 4) == 100
    data = _encode_within(base, Image.fromarray((ref + intended).astype(np.uint8)), "jpeg", 4, None, None, 100)
    written = np.asarray(imageio.decode_rgb(data), np.int16) - ref
    assert np.abs(written).max() <= 4
    assert (written * np.sign(intended)).sum() / np.abs(intended).sum() > 0.55


def test_where_the_codec_alone_moves_pixels_beyond_eps_the_encoder_still_ends():
    """At eps 1 and 2 quality 100 alone moves this photo's saturated edges by 4/255: the
    encoder gives up on those blocks (the receipt reports the L-infinity) instead of
    looping for ever, within a grey level of what the codec alone does to the photo."""
    base = decoded_jpeg("retina")
    ref = np.asarray(base, np.int16)
    codec_alone = quality.linf(base, imageio.decode_rgb(imageio.encode(base, "jpeg", quality=100)))
    assert codec_alone == 4
    for eps in (1, 2):
        delta = np.random.default_rng(eps).choice([-eps, eps], size=ref.shape)
        protected = Image.fromarray(np.clip(ref + delta, 0, 255).astype(np.uint8))
        done: list[bytes] = []
        worker = threading.Thread(target=lambda e=eps, p=protected: done.append(
            _encode_within(base, p, "jpeg", e, None, None, 100)), daemon=True)
        worker.start()
        worker.join(120)
        assert done, f"the encoder did not end at eps {eps}"
        assert quality.linf(base, imageio.decode_rgb(done[0])) <= codec_alone + 1

# --- every photo that decodes can be written: noisy pixels, big colour profiles ----------------


def noise(size: int = 1024, seed: int = 0) -> Image.Image:
    """Uniform RGB noise: the least compressible photo there is."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("q", [95, 98, 100])
def test_a_noisy_photo_encodes_as_jpeg_at_high_quality(q):
    data = imageio.encode(noise(), "jpeg", quality=q)
    assert imageio.decode_rgb(data).size == (1024, 1024)


def test_huffman_optimisation_is_kept_where_it_fits():
    photo = natural_photo("coffee")
    optimised = encode(photo, "JPEG", quality=95, subsampling=0, optimize=True)
    assert imageio.encode(photo, "jpeg") == optimised


def random_profile(size: int) -> bytes:
    """`size` arbitrary bytes: encoders embed an ICC profile without parsing it."""
    return np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("size", [70_000, 300_000])
def test_a_large_icc_profile_survives_byte_for_byte(fmt, size):
    icc = random_profile(size)
    data = imageio.encode(natural_photo("coffee"), fmt, icc=icc)
    assert Image.open(io.BytesIO(data)).info["icc_profile"] == icc
    assert imageio.read_photo(data).icc_profile == icc  # an RGB photo keeps whatever profile it has


def test_a_noisy_photo_with_a_large_profile_encodes():
    icc = random_profile(300_000)
    data = imageio.encode(noise(512), "jpeg", icc=icc, quality=100)
    assert Image.open(io.BytesIO(data)).info["icc_profile"] == icc


# --- photos whose profile is not an RGB one are converted to sRGB --------------------------------


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def icc_profile(device_class: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 profile: the 128-byte header, the tag table and the tags, 4-byte aligned."""
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I4sI", size, b"\0" * 4, 0x02100000)
        + device_class + space + pcs
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
        + s15(0.9642) + s15(1.0) + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def common_tags(name: str) -> dict[bytes, bytes]:
    text = name.encode() + b"\0"
    return {
        b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67,
        b"cprt": b"text\0\0\0\0" + b"no copyright\0",
        b"wtpt": b"XYZ \0\0\0\0" + s15(0.9642) + s15(1.0) + s15(0.8249),
    }


def cmyk_profile() -> bytes:
    """A CMYK input profile (lut16 A2B0 to Lab) whose cyan ink is a muted blue, L*a*b*
    (60, -30, -40): far from the (0, 255, 255) of Pillow's naive conversion, so a test can tell
    a colour-managed conversion from it."""
    clut = b""
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # the first channel varies slowest
        if k:
            lightness, a, b = 20, 0, 0
        else:
            lightness, a, b = max(20, 100 - 40 * c - 50 * m - 10 * y), -30 * c + 70 * m, -40 * c + 85 * y
        clut += struct.pack(">3H", round(lightness * 652.8), round((a + 128) * 256), round((b + 128) * 256))
    identity = b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">2H", 0, 65535)
    a2b0 = b"mft2\0\0\0\0" + bytes([4, 3, 2, 0]) + identity + struct.pack(">2H", 2, 2) + ramp * 4 + clut + ramp * 3
    return icc_profile(b"scnr", b"CMYK", b"Lab ", {**common_tags("test CMYK"), b"A2B0": a2b0})


def gray_profile(gamma: float = 1.0) -> bytes:
    """A grayscale display profile with a single gamma curve."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    return icc_profile(b"mntr", b"GRAY", b"XYZ ", {**common_tags("test gray"), b"kTRC": curve})


def three_inks() -> Image.Image:
    """A CMYK image: blank paper, full cyan ink and full black ink, side by side."""
    image = Image.new("CMYK", (96, 32), (0, 0, 0, 0))
    image.paste((255, 0, 0, 0), (32, 0, 64, 32))
    image.paste((0, 0, 0, 255), (64, 0, 96, 32))
    return image


def test_the_test_profiles_are_valid():
    assert ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile())).profile.xcolor_space.strip() == "CMYK"
    assert ImageCms.ImageCmsProfile(io.BytesIO(gray_profile())).profile.xcolor_space.strip() == "GRAY"


def test_a_cmyk_photo_without_a_profile_is_converted_naively():
    photo = imageio.read_photo(encode(three_inks(), "JPEG", quality=95))
    assert photo.rgb.mode == "RGB" and photo.icc_profile is None
    paper, cyan, black = (photo.rgb.getpixel((x, 16)) for x in (16, 48, 80))
    assert min(paper) >= 250 and max(black) <= 5
    assert cyan[0] <= 5 and min(cyan[1:]) >= 250


def test_a_cmyk_photo_is_converted_to_srgb_with_its_profile_which_is_dropped():
    photo = imageio.read_photo(encode(three_inks(), "JPEG", quality=95, icc_profile=cmyk_profile()))
    # an RGB file must not carry a CMYK profile: the pixels are sRGB now, and untagged means sRGB
    assert photo.icc_profile is None
    paper, cyan, black = (photo.rgb.getpixel((x, 16)) for x in (16, 48, 80))
    assert min(paper) >= 250 and max(black) <= 5
    # the profile's muted cyan (Pillow's naive conversion gives (0, 255, 255))
    assert cyan[0] <= 40 and 120 <= cyan[1] <= 190 and 170 <= cyan[2] <= 230
    written = imageio.encode(photo.rgb, "jpeg", icc=photo.icc_profile)
    assert Image.open(io.BytesIO(written)).info.get("icc_profile") is None


def test_a_grayscale_photo_with_a_gray_profile_becomes_srgb():
    # gamma 1.0: a linear-light gray of 128 (Y = 0.5) is sRGB 188, not 128
    photo = imageio.read_photo(encode(Image.new("L", (16, 16), 128), "PNG", icc_profile=gray_profile(1.0)))
    assert photo.icc_profile is None
    assert all(184 <= v <= 192 for v in photo.rgb.getpixel((8, 8)))


def test_an_rgb_profile_is_kept():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = imageio.read_photo(encode(natural_photo("coffee"), "JPEG", icc_profile=srgb))
    assert photo.icc_profile == srgb
