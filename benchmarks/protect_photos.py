"""The engine's acceptance run: natural photos, protected and clean, through the receipt.

    python benchmarks/protect_photos.py [--model demo] [--epsilon 8] [--quick]

Every colour and grey photograph scikit-image ships, at its own size, plus upscaled copies
up to 12 megapixels, some as JPEG (JPEG out, so the codec's error counts) and some as
PNG. The output is kept at full size (no 2048 px cap) so 12 MP photos are protected at
12 MP. Prints one row per photo and a summary: mean refusal rate on the held-out
questions, protected and clean; the largest L-infinity distance of a saved file; the
lowest PSNR.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_jpeg, encode_png, natural_photo  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.questions import HELD_OUT_QUESTIONS  # noqa: E402
from companion.engine.receipt import verify  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402

# (photo, (width, height) or None for its own size, container). Left out: `rocket` and
# `immunohistochemistry`, which the demo model already refuses unprotected (its face
# detector fires on them), so protecting them would prove nothing.
CASES = [
    ("astronaut", None, "png"),
    ("chelsea", None, "jpeg"),
    ("coffee", None, "png"),
    ("hubble_deep_field", None, "png"),
    ("retina", None, "jpeg"),
    ("stereo_motorcycle", None, "png"),
    ("camera", None, "png"),
    ("moon", None, "jpeg"),
    ("coins", None, "png"),
    ("text", None, "png"),
    ("grass", None, "jpeg"),
    ("brick", None, "png"),
    ("astronaut", (1024, 1024), "jpeg"),
    ("chelsea", (1200, 798), "png"),
    ("coffee", (1600, 1067), "jpeg"),
    ("stereo_motorcycle", (2048, 1382), "jpeg"),
    ("hubble_deep_field", (2000, 1744), "png"),
    ("camera", (2000, 2000), "png"),
    ("astronaut", (3464, 3464), "png"),
    ("coffee", (4000, 3000), "png"),
    ("chelsea", (4000, 2660), "jpeg"),
]
QUICK = [c for c in CASES if c[1] is None or c[1][0] <= 1200][:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epsilon", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="8 photos up to 1200 px")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = Engine([load_adapter(m, args.device) for m in args.model or ["demo"]])
    options = ProtectOptions(epsilon=args.epsilon, max_edge=0, robust=False)

    header = f"{'photo':>20} | {'size':>9} | {'fmt':>4} | {'steps':>5} | {'s':>6} | {'protected':>9} | {'clean':>5} | {'Linf':>4} | {'PSNR':>5}"
    print(header)
    print("-" * len(header))
    rows = []
    for name, size, fmt in QUICK if args.quick else CASES:
        image = natural_photo(name, size)
        data = encode_png(image) if fmt == "png" else encode_jpeg(image)
        result = engine.protect(data, options)
        clean = min(m.refusal_rate for m in verify(data, engine.adapters, HELD_OUT_QUESTIONS))
        assert Image.open(io.BytesIO(result.data)).size == image.size
        rows.append((result.receipt.refusal_rate, clean, result.receipt.linf, result.receipt.psnr, result.steps))
        print(
            f"{name:>20} | {image.width:>4}x{image.height:<4} | {fmt:>4} | {result.steps:5d} | {result.seconds:6.1f} | "
            f"{result.receipt.refusal_rate:9.2f} | {clean:5.2f} | {result.receipt.linf:4d} | {result.receipt.psnr:5.1f}",
            flush=True,
        )
    protected, clean, linfs, psnrs, steps = zip(*rows)
    print("-" * len(header))
    print(
        f"{len(rows)} photos: mean refusal protected {statistics.mean(protected):.3f}, clean {statistics.mean(clean):.3f}; "
        f"max Linf {max(linfs)}/255; min PSNR {min(psnrs):.1f} dB; median steps {statistics.median(steps):.0f}"
    )


if __name__ == "__main__":
    main()
