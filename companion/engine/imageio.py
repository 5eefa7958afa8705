"""Reading photos safely and writing protected ones.

Reading checks what a hostile or broken file can do before it costs memory: the declared
pixel count is checked from the header alone (a 100 000 x 100 000 PNG is refused without
decoding it), truncated files are an error rather than half a photo, and the EXIF
orientation is applied so the pixels we protect are the ones people see.

Writing removes EXIF (GPS position, camera serial, time) and other text metadata, keeps
the colour profile, keeps the original's format unless asked otherwise, and replaces the
destination atomically, so a crash never leaves half a file and never touches the input.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from companion.engine.errors import ProtectError

DEFAULT_MAX_PIXELS = 100_000_000  # larger than any phone camera's photo
JPEG_QUALITY = 95

# Pillow format name -> (output format, file extension)
_KEEP = {"JPEG": ("jpeg", "jpg"), "PNG": ("png", "png"), "WEBP": ("webp", "webp")}
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


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image opened lazily (header only), or ProtectError for empty, non-image,
    damaged-header and too-large input: the declared size is checked before any decoding."""
    if not data:
        raise ProtectError("empty", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ProtectError("not_an_image", "not an image Pillow can read (JPEG, PNG, WebP, ...)") from None
    except Image.DecompressionBombError:
        raise ProtectError("too_large", "the image declares too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ProtectError("corrupt", f"the image header is damaged ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ProtectError(
            "too_large", f"the image declares {width}x{height} pixels, more than the limit of {max_pixels:,}"
        )
    return image


def read_photo(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode image bytes into a Photo, or raise ProtectError with a code users can act on."""
    image = _open(data, max_pixels)
    source_format = image.format or "PNG"
    icc = image.info.get("icc_profile")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ProtectError("corrupt", f"the image data is damaged or truncated ({exc})") from None
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        alpha = image.getchannel("A")
    return Photo(image.convert("RGB"), alpha, source_format, icc)


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
    pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
    if device is not None:
        pixels = pixels.to(device, non_blocking=False)
    return (pixels.permute(2, 0, 1).unsqueeze(0).float() / 255.0).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """RGB image from a (1, 3, H, W) tensor in [0, 1], rounded to 8 bits (on the tensor's device)."""
    pixels = (tensor.detach()[0].float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")


def output_format(photo: Photo, requested: str | None) -> str:
    """'jpeg', 'png' or 'webp': the requested one, else the source's (PNG for others)."""
    if requested and requested != "keep":
        fmt = requested.lower().replace("jpg", "jpeg")
        if fmt not in FORMATS:
            raise ProtectError("bad_format", f"unknown output format {requested!r}; use jpeg, png or webp")
        return fmt
    return _KEEP.get(photo.source_format, ("png", "png"))[0]


def encode(
    image: Image.Image,
    fmt: str,
    alpha: Image.Image | None = None,
    icc: bytes | None = None,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """Encode without metadata: JPEG (quality 95 by default) with no chroma subsampling, lossless PNG/WebP."""
    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if fmt == "jpeg":
        image.convert("RGB").save(buf, "JPEG", quality=quality, subsampling=0, optimize=True, **extra)
    else:
        out = image
        if alpha is not None:
            out = image.copy()
            out.putalpha(alpha)
        if fmt == "png":
            out.save(buf, "PNG", optimize=False, **extra)
        else:
            out.save(buf, "WEBP", lossless=True, quality=100, method=4, **extra)
    return buf.getvalue()


def decode_rgb(data: bytes) -> Image.Image:
    """Decode bytes we wrote ourselves into RGB."""
    return Image.open(io.BytesIO(data)).convert("RGB")


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
