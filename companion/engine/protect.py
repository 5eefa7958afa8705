"""Protect one photo end to end: decode, attack, encode, verify. The call every front door makes.

The server, the watcher and the CLI translate their input into `Engine.protect(...)` and its
`Protected` result back; nothing here knows about HTTP, folders or terminals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from companion.engine import imageio, quality
from companion.engine.attack import AttackConfig, ImageProtector, StepInfo
from companion.engine.errors import ProtectError
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.engine.receipt import Receipt, verify
from companion.models.base import Adapter

log = logging.getLogger(__name__)


@dataclass
class ProtectOptions:
    epsilon: int = 8  # L-infinity bound in /255 units
    steps: int = 200  # the most attack steps
    seed: int = 0
    max_edge: int | None = 2048  # long edge of the output; None or 0 keeps the photo's size
    format: str | None = None  # jpeg, png, webp; None keeps the original's
    min_psnr: float | None = 35.0  # dB; bounds the perturbation's energy as epsilon bounds its peak
    max_pixels: int = imageio.DEFAULT_MAX_PIXELS
    verify: bool = True


@dataclass
class Protected:
    data: bytes
    format: str  # jpeg, png or webp
    extension: str
    size: tuple[int, int]
    steps: int
    seconds: float
    succeeded: bool  # the attack's own greedy check refused every check question
    receipt: Receipt


class Engine:
    """The loaded models and the attack, reused photo after photo."""

    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self.adapters = list(adapters)

    def protect(
        self,
        data: bytes,
        options: ProtectOptions | None = None,
        progress: Callable[[StepInfo], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Protected:
        """Protect the image in `data`; raises ProtectError for input it cannot protect."""
        opts = options or ProtectOptions()
        if not 1 <= opts.epsilon <= 64:
            raise ProtectError("bad_option", f"epsilon must be between 1 and 64 (/255), got {opts.epsilon}")
        if opts.steps < 1:
            raise ProtectError("bad_option", f"steps must be at least 1, got {opts.steps}")
        start = time.monotonic()
        photo = imageio.read_photo(data, opts.max_pixels)
        fmt = imageio.output_format(photo, opts.format)
        base = imageio.limit_size(photo.rgb, opts.max_edge)
        alpha = imageio.limit_size(photo.alpha, opts.max_edge) if photo.alpha is not None else None
        # Rounding to 8 bits, and JPEG's own error, cost some PSNR after the attack: aim above.
        margin = 1.0 if fmt == "jpeg" else 0.3
        min_psnr = None if opts.min_psnr is None else opts.min_psnr + margin
        config = AttackConfig(eps=opts.epsilon / 255, steps=opts.steps, seed=opts.seed, min_psnr=min_psnr)
        # A JPEG's own rounding can wash out a small perturbation: optimise and check through it.
        jpeg_quality = _jpeg_quality(base, opts.epsilon) if fmt == "jpeg" else imageio.JPEG_QUALITY
        codec = partial(imageio.jpeg_round_trip, quality=jpeg_quality) if fmt == "jpeg" else None
        protector = ImageProtector(self.adapters, config, codec)
        x = imageio.to_tensor(base)
        adv, steps, succeeded = None, 0, False
        while steps < opts.steps:
            result = protector.perturb(x, progress, cancel, start=adv, max_steps=opts.steps - steps)
            if result.cancelled:
                raise ProtectError("cancelled", "protection was cancelled")
            steps += result.steps
            protected = imageio.to_image(result.image)
            encoded = _encode_within(base, protected, fmt, opts.epsilon, alpha, photo.icc_profile, jpeg_quality)
            decoded = imageio.decode_rgb(encoded)
            # Keeping the file within epsilon can shrink the perturbation: check the file
            # itself, and go on from it while it is not yet refused.
            adv = imageio.to_tensor(decoded)
            succeeded = result.succeeded and (codec is None or protector.refuses(adv, protector.check_questions()))
            if succeeded or not result.succeeded:
                break
            log.info("the saved file is not yet refused after %d steps; going on from it", steps)
        models = verify(encoded, self.adapters, HELD_OUT_QUESTIONS) if opts.verify else []
        receipt = Receipt(
            refusal_rate=min((m.refusal_rate for m in models), default=float("nan")),
            models=models,
            psnr=quality.psnr(base, decoded),
            linf=quality.linf(base, decoded),
        )
        seconds = time.monotonic() - start
        log.info(
            "protected %dx%d in %d steps, %.1f s: refusal %.2f, PSNR %.1f dB, Linf %d/255",
            *base.size, steps, seconds, receipt.refusal_rate, receipt.psnr, receipt.linf,
        )
        return Protected(encoded, fmt, imageio.FORMATS[fmt], base.size, steps, seconds, succeeded, receipt)


def _jpeg_quality(base: Image.Image, eps: int) -> int:
    """The lowest of 95, 98, 100 whose round trip leaves the clean photo within eps / 2.

    A photo that was a JPEG already can move by 10/255 and more when encoded again at 95
    (saturated edges); that would leave no room for the perturbation.
    """
    ref = np.asarray(base, dtype=np.int16)
    for q in (95, 98):
        dec = np.asarray(imageio.decode_rgb(imageio.encode(base, "jpeg", quality=q)), dtype=np.int16)
        if np.abs(dec - ref).max() <= eps // 2:
            return q
    return 100


def _encode_within(
    base: Image.Image,
    protected: Image.Image,
    fmt: str,
    eps: int,
    alpha: Image.Image | None,
    icc: bytes | None,
    quality: int = imageio.JPEG_QUALITY,
) -> bytes:
    """Encode so that the decoded file stays within eps of the original wherever possible.

    Lossless formats keep the attack's pixels exactly. JPEG's own error (a few /255 at
    quality 95, up to 10 or more on saturated edges of a photo that was a JPEG already)
    adds to the perturbation, so: encode, move the pixels that decode too far back by
    their excess, encode again. Where quality 95 cannot get within eps, a higher quality
    is used, and only then is the perturbation shrunk. The receipt verifies what is left.
    """
    if fmt != "jpeg":
        return imageio.encode(protected, fmt, alpha, icc)
    ref = np.asarray(base, dtype=np.int16)
    adv = np.asarray(protected, dtype=np.int16)
    best, best_linf = b"", 256
    tries = [(q, 1.0) for q in (95, 98, 100) if q >= quality] + [(100, s / 10) for s in range(9, -1, -1)]
    for quality, scale in tries:
        pre = ref + np.round((adv - ref) * scale).astype(np.int16)
        for _ in range(4):
            data = imageio.encode(Image.fromarray(pre.astype(np.uint8), "RGB"), fmt, alpha, icc, quality)
            dec = np.asarray(imageio.decode_rgb(data), dtype=np.int16)
            excess = dec - np.clip(dec, ref - eps, ref + eps)
            if not excess.any():
                if scale < 1.0:
                    log.info("JPEG written at quality %d, perturbation at %.0f%%, to stay within %d/255",
                             quality, scale * 100, eps)
                return data
            pre = np.clip(pre - excess, 0, 255)
        linf = int(np.abs(dec - ref).max())
        if linf < best_linf:
            best, best_linf = data, linf
    log.warning("JPEG re-encoding alone moves this photo by %d/255, more than epsilon %d/255", best_linf, eps)
    return best


def output_name(stem: str, extension: str) -> str:
    """`<stem>.protected.<ext>`: the original name kept, the protection visible."""
    return f"{stem}.protected.{extension}"


__all__ = ["Engine", "ProtectOptions", "Protected", "ProtectError", "output_name"]
