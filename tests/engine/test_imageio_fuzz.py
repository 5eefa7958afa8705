"""Fuzzing the decode path: damaged headers and tails of real JPEG, PNG, WebP and GIF files.

Whatever the bytes, `probe` and `read_photo` either return a photo within the pixel limit or
raise ProtectError: never another exception type (the server and CLI translate only that
one) and never a hang. Derandomised, so CI sees the same few hundred files every run.
"""

from __future__ import annotations

import contextlib
import io
import signal
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from companion.engine import imageio
from companion.engine.errors import ProtectError

MAX_PIXELS = 1_000_000
HEADER = 200  # mutations land in the first HEADER bytes, where the parsers' trust is


def seed_file(fmt: str, metadata: bool = False) -> bytes:
    """A small valid file: a 40x24 gradient with some noise, saved by Pillow as `fmt`; with
    `metadata`, an EXIF orientation and an sRGB profile in the header for the fuzzer to damage."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:40]
    pixels = np.stack([x * 6, y * 10, (x + y) * 4], axis=-1) + rng.integers(0, 16, (24, 40, 3))
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    if fmt == "PNG":
        image = image.convert("RGBA")  # exercise the alpha path too
    extra = {}
    if metadata:
        exif = Image.Exif()
        exif[0x0112] = 6  # rotated: exercises exif_transpose
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        extra = {"exif": exif.tobytes(), "icc_profile": srgb}
    buf = io.BytesIO()
    image.save(buf, fmt, **extra)
    return buf.getvalue()


SEEDS = {fmt: seed_file(fmt) for fmt in ("JPEG", "PNG", "WEBP", "GIF")}
SEEDS.update({f"{fmt}+metadata": seed_file(fmt, metadata=True) for fmt in ("JPEG", "PNG", "WEBP")})


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one to four edits: bit flips, byte replacements, insertions and deletions
    in the header, a truncation anywhere, or a random tail."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "replace", "insert", "delete", "truncate", "tail"]))
        at = draw(st.integers(0, max(0, min(HEADER, len(out)) - 1)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace" and out:
            out[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]) | st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del out[draw(st.integers(0, len(out))) :]
        elif kind == "tail":
            cut = draw(st.integers(0, len(out)))
            out[cut:] = draw(st.binary(max_size=256))
    return bytes(out)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (rather than hang the suite) when the body runs longer than `seconds`."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows: rely on the deadline
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"decoding took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def decodes_or_refuses(data: bytes) -> None:
    """The property: a photo within the limit, or ProtectError; nothing else, and quickly."""
    with time_limit(10):
        try:
            fmt, (width, height) = imageio.probe(data, max_pixels=MAX_PIXELS)
            assert fmt in imageio.INPUT_FORMATS or fmt == "MPO"
            assert width * height <= MAX_PIXELS
        except ProtectError:
            pass
        try:
            photo = imageio.read_photo(data, max_pixels=MAX_PIXELS)
            assert photo.rgb.mode == "RGB" and photo.rgb.width * photo.rgb.height <= MAX_PIXELS
        except ProtectError:
            pass


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_the_seeds_are_valid(fmt):
    assert imageio.read_photo(SEEDS[fmt]).size == ((24, 40) if "metadata" in fmt else (40, 24))


FUZZ = settings(
    max_examples=40,  # x 7 seeds: 280 files
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_damaged_files_decode_or_raise_protect_error(fmt):
    @FUZZ
    @given(mutations(SEEDS[fmt]))
    def check(data: bytes) -> None:
        decodes_or_refuses(data)

    check()
