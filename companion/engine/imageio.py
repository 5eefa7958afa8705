"""Reading photos safely and writing protected ones.

Reading checks what a hostile or broken file can do before it costs memory: only the
formats in INPUT_FORMATS ever reach a Pillow plugin (an EPS file named photo.jpg is refused,
never handed to Ghostscript), the declared pixel count is checked from the header alone (a
100 000 x 100 000 PNG is refused without decoding it), whatever a damaged file makes the
decoder raise becomes a ProtectError, truncated files are an error rather than half a photo,
and the EXIF orientation is applied so the pixels we protect are the ones people see.

Writing removes EXIF (GPS position, camera serial, time) and other text metadata, keeps
an RGB colour profile whatever its size (photos in CMYK or gray with their own profile are
converted to sRGB on reading), keeps the original's format unless asked otherwise, and
replaces the destination atomically, so a crash never leaves half a file and never touches
the input.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, features

from companion.engine.errors import ProtectError

if TYPE_CHECKING:  # torch is imported where a tensor is made: the command line's parsers need none
    import torch

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000  # larger than any phone camera's photo
JPEG_QUALITY = 95


def _codec_available(module: str) -> bool:
    """Whether the running Pillow was built with the optional codec `module` ("webp", "avif")."""
    try:
        return bool(features.check_module(module))
    except ValueError:  # a Pillow too old to know the codec at all (AVIF came in 11.3)
        return False


# The only Pillow formats ever decoded (names as Pillow's plugins register them): every other
# plugin's parser, and Ghostscript behind EPS, stays out of reach of the files people drop in.
# GIF gives its first frame. A phone's multi-picture JPEG (Pillow's "MPO") opens as JPEG.
_OPTIONAL_CODECS = {"WEBP": "webp", "AVIF": "avif"}
INPUT_FORMATS: tuple[str, ...] = tuple(
    name
    for name in ("JPEG", "PNG", "WEBP", "GIF", "AVIF")
    if name not in _OPTIONAL_CODECS or _codec_available(_OPTIONAL_CODECS[name])
)
_DISPLAY = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "AVIF": "AVIF"}
ACCEPTED = ", ".join(_DISPLAY[f] for f in INPUT_FORMATS[:-1]) + f" or {_DISPLAY[INPUT_FORMATS[-1]]}"

# HEIF brands of HEVC-coded photos (iPhone's .heic) and of AVIF, in the ISO-BMFF ftyp box
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}

# What Pillow's parsers and decoders may raise on damaged data (Pillow itself reads SyntaxError,
# IndexError, TypeError and struct.error as "not this format" while identifying a file).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)

# Modes whose pixels an RGB colour profile describes once converted to RGB.
_RGB_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"}

# Pillow format name -> (output format, file extension)
_KEEP = {
    "JPEG": ("jpeg", "jpg"),
    "MPO": ("jpeg", "jpg"),
    "PNG": ("png", "png"),
    "WEBP": ("webp", "webp"),
}
FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


@dataclass
class Photo:
    """A decoded photo: 8-bit RGB pixels, plus what is needed to write it back."""

    rgb: Image.Image  # mode RGB, EXIF orientation applied
    alpha: Image.Image | None  # mode L, when the source had transparency
    source_format: str  # Pillow's name, e.g. "JPEG"
    icc_profile: bytes | None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size


def _is_heic(data: bytes) -> bool:
    """Whether `data` starts with the ftyp box of a HEVC-coded HEIF photo (not an AVIF one)."""
    if data[4:8] != b"ftyp":
        return False
    box = data[8 : min(int.from_bytes(data[:4], "big"), 4096, len(data))]
    brands = {box[i : i + 4] for i in range(0, len(box) - 3, 4) if i != 4}  # major, compatible
    return bool(brands & _HEIC_BRANDS) and not brands & _AVIF_BRANDS


def _recognise(data: bytes) -> str | None:
    """The Pillow format whose signature `data` carries, or None. Only the plugins' prefix
    checks run, never their parsers: this names a format to refuse, it opens nothing."""
    if data.endswith(b"TRUEVISION-XFILE.\0"):  # TGA has no signature up front, only this footer
        return "TGA"
    Image.init()
    prefix = data[:16]  # what Image.open shows the same checks
    for fmt, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix):
                return fmt
        except Exception:  # noqa: BLE001 - a third-party plugin's check must not decide the error
            continue
    return None


def _unidentified(data: bytes) -> ProtectError:
    """The error for bytes no allowlisted plugin would open: damaged (a format we read),
    unsupported (one we recognise but refuse) or not an image at all."""
    fmt = _recognise(data)
    if fmt in INPUT_FORMATS or fmt == "MPO":
        return ProtectError("corrupt", f"the {fmt} header is damaged")
    if fmt is not None:
        return ProtectError("unsupported_format", f"{fmt} images are not supported; use {ACCEPTED}")
    return ProtectError("not_an_image", f"not an image ({ACCEPTED} are read)")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image opened lazily (header only), or ProtectError for empty, non-image,
    unsupported, damaged-header and too-large input: only INPUT_FORMATS are tried, and the
    declared size is checked before any decoding."""
    if not data:
        raise ProtectError("empty", "the file is empty")
    if _is_heic(data):
        raise ProtectError(
            "unsupported_format", f"HEIC photos are not supported; export it as JPEG (or {ACCEPTED}) and try again"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, "format X opening failed"
            image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except Image.DecompressionBombError:
        raise ProtectError("too_large", "the image declares too many pixels") from None
    except _DECODE_ERRORS as exc:
        raise ProtectError("corrupt", f"the image header is damaged ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ProtectError(
            "too_large", f"the image declares {width}x{height} pixels, more than the limit of {max_pixels:,}"
        )
    return image


def _load(image: Image.Image, transpose: bool = True) -> Image.Image:
    """`image` decoded (and turned upright by its EXIF orientation when `transpose`), or
    ProtectError("corrupt") for whatever damaged or truncated data makes Pillow raise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, "Corrupt EXIF data"
            image.load()
            return ImageOps.exif_transpose(image) if transpose else image
    except Image.DecompressionBombError:
        raise ProtectError("too_large", "the image holds too many pixels") from None
    except _DECODE_ERRORS as exc:
        raise ProtectError("corrupt", f"the image data is damaged or truncated ({exc})") from None


def _alpha(image: Image.Image) -> Image.Image | None:
    """The transparency of `image` as an L image, or None when it has none."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA").getchannel("A")
    return None


def _colour_space(icc: bytes) -> str | None:
    """The colour space an ICC profile declares ("RGB", "CMYK", "GRAY", ...), from its header;
    None when the bytes are no ICC profile."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20].decode("ascii", "replace").strip()


@functools.lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """8-bit RGB pixels and the profile that describes them.

    An RGB profile on RGB (or palette) pixels is kept as it is, whatever its size. Any other
    profile (CMYK, gray, Lab) cannot describe the RGB file we will write, so the pixels are
    converted to sRGB through it and it is dropped: untagged pixels are read as sRGB. Without
    a usable profile, CMYK and gray pixels get Pillow's plain conversion."""
    space = _colour_space(icc) if icc else None
    if image.mode in _RGB_MODES:
        # an RGB-ish image keeps an RGB profile, or bytes we cannot classify (as before)
        keep = icc if space in ("RGB", None) else None
        return image.convert("RGB"), keep
    if icc and space not in (None, "RGB"):
        source = image.convert("L") if image.mode == "LA" else image
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(source, profile, _srgb(), outputMode="RGB"), None
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            logger.info("the %s profile cannot convert %s pixels (%s); converting without it", space, image.mode, exc)
    return image.convert("RGB"), None


def read_photo(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode image bytes into a Photo, or raise ProtectError with a code users can act on."""
    image = _open(data, max_pixels)
    source_format = image.format or "PNG"
    icc = image.info.get("icc_profile")
    image = _load(image)
    rgb, icc = _to_rgb(image, icc)
    return Photo(rgb, _alpha(image), source_format, icc)


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, tuple[int, int]]:
    """(Pillow format, size) from the header alone, without decoding the pixels; the same
    ProtectErrors as read_photo for empty, non-image and too-large input. Cheap enough to
    run on a request thread before a job is queued."""
    with _open(data, max_pixels) as image:
        return image.format or "", image.size


def read_file(path: Path) -> bytes:
    """The bytes of `path`, with not-found, folder and permission errors as ProtectErrors."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ProtectError("not_found", f"no such file: {path}") from None
    except IsADirectoryError:
        raise ProtectError("not_a_file", f"is a folder, not a photo: {path}") from None
    except PermissionError:
        raise ProtectError("permission_denied", f"cannot read {path}: permission denied") from None


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at exactly `size` (Lanczos), or itself when it has that size already."""
    return image if image.size == tuple(size) else image.resize(tuple(size), Image.LANCZOS)


def to_tensor(image: Image.Image, device: torch.device | str | None = None) -> torch.Tensor:
    """(1, 3, H, W) float32 tensor in [0, 1] from an RGB image, on `device` (default CPU).

    The 8-bit pixels travel to the device and are converted there: a quarter of the bytes
    of a float copy, which matters at 12 MP on every step that round-trips through a codec.
    """
    import torch

    pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
    if device is not None:
        pixels = pixels.to(device, non_blocking=False)
    return (pixels.permute(2, 0, 1).unsqueeze(0).float() / 255.0).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """RGB image from a (1, 3, H, W) tensor in [0, 1], rounded to 8 bits (on the tensor's device)."""
    import torch

    pixels = (tensor.detach()[0].float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")


def output_format(photo: Photo, requested: str | None) -> str:
    """'jpeg', 'png' or 'webp': the requested one, else the source's (PNG for others)."""
    return planned_format(photo.source_format, requested)


def planned_format(source_format: str | None, requested: str | None) -> str:
    """The output format for a source in `source_format` (Pillow's name, 'JPEG'), known before
    any decoding: how the command line names an output before the work."""
    if requested and requested != "keep":
        fmt = requested.lower().replace("jpg", "jpeg")
        if fmt not in FORMATS:
            raise ProtectError("bad_format", f"unknown output format {requested!r}; use jpeg, png or webp")
        return fmt
    return _KEEP.get(source_format or "", ("png", "png"))[0]


def encode(
    image: Image.Image,
    fmt: str,
    alpha: Image.Image | None = None,
    icc: bytes | None = None,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """Encode without metadata: JPEG (quality 95 by default) with no chroma subsampling, lossless PNG/WebP.
    `icc` is embedded as it is, whatever its size (JPEG splits it over several APP2 markers)."""
    extra = {"icc_profile": icc} if icc else {}
    if fmt == "jpeg":
        return _encode_jpeg(image.convert("RGB"), quality, extra)
    out = image
    if alpha is not None:
        out = image.copy()
        out.putalpha(alpha)
    buf = io.BytesIO()
    if fmt == "png":
        out.save(buf, "PNG", optimize=False, **extra)
    else:
        out.save(buf, "WEBP", lossless=True, quality=100, method=4, **extra)
    return buf.getvalue()


def _encode_jpeg(image: Image.Image, quality: int, extra: dict[str, bytes]) -> bytes:
    """JPEG bytes with optimised Huffman tables where Pillow can make them, plain ones otherwise.

    With optimize=True libjpeg writes the whole entropy-coded image in one go at the end,
    which cannot pause for a full output buffer, and Pillow sizes that buffer by a guess
    (1 byte a pixel below quality 95, 2 from 95 on, plus the markers). Noise and fine grain
    at high quality without chroma subsampling take more (over 4 bytes a pixel at 100), so
    libjpeg stops ("Suspension not allowed here") and Pillow raises "broken data stream".
    Without optimize the encoder streams, so that second try handles any size; it only
    costs the few percent optimisation saves."""
    buf = io.BytesIO()
    try:
        image.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True, **extra)
    except OSError as exc:
        logger.debug("optimised JPEG of %dx%d overflows Pillow's buffer (%s); encoding unoptimised", *image.size, exc)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, subsampling=0, optimize=False, **extra)
    return buf.getvalue()


def decode_rgb(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode into RGB bytes the engine or a site simulation wrote (no EXIF to apply), through
    the same INPUT_FORMATS allowlist and ProtectErrors as read_photo."""
    return _load(_open(data, max_pixels), transpose=False).convert("RGB")


def jpeg_round_trip(image: torch.Tensor, quality: int = JPEG_QUALITY) -> torch.Tensor:
    """What a (1, 3, H, W) image becomes once saved as our JPEG and decoded again."""
    return to_tensor(decode_rgb(encode(to_image(image), "jpeg", quality=quality)), image.device)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
