"""The README's close-ups: 200% crops of a sky and a face, original beside protected.

    python benchmarks/readme_crops.py [--model demo] [--site instagram] [--out docs/crops]

Protects `rocket` (a clear sky above the launch tower) and `astronaut` (a portrait) with the
defaults for the site (eps 8/255, whole frame, texture-shaped budget) and writes, for each,
a PNG with a region of the original and the same region of the protected file side by
side, both enlarged 2x with nearest-neighbour so that single pixels show. Prints the
photo's PSNR and SSIM and the mean change per pixel in the crop.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_png, natural_photo  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402

#: (photo, crop box (left, top, right, bottom) in the site's output pixels, label)
CROPS = (
    ("rocket", (20, 20, 220, 170), "sky"),
    ("astronaut", (140, 30, 320, 180), "face"),
)


def side_by_side(original: Image.Image, protected: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The crop `box` of both, 2x nearest-neighbour, with a 4 px white gap and labels."""
    a, b = (im.crop(box) for im in (original, protected))
    a, b = (im.resize((im.width * 2, im.height * 2), Image.NEAREST) for im in (a, b))
    out = Image.new("RGB", (a.width * 2 + 4, a.height + 16), "white")
    out.paste(a, (0, 16))
    out.paste(b, (a.width + 4, 16))
    draw = ImageDraw.Draw(out)
    draw.text((2, 2), "original (200%)", fill="black")
    draw.text((a.width + 6, 2), "protected (200%)", fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--site", default="instagram")
    parser.add_argument("--out", type=Path, default=Path("docs/crops"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = Engine([load_adapter(args.model, "auto")])
    args.out.mkdir(parents=True, exist_ok=True)
    for name, box, label in CROPS:
        original = natural_photo(name)
        result = engine.protect(encode_png(original), ProtectOptions(site=args.site, verify=False))
        protected = Image.open(io.BytesIO(result.data)).convert("RGB")
        if original.size != protected.size:  # the site's own size, as the engine resized it
            original = original.resize(protected.size, Image.BICUBIC)
        side_by_side(original, protected, box).save(args.out / f"{label}.png", optimize=True)
        change = np.abs(np.asarray(protected, np.int16) - np.asarray(original, np.int16))
        region = change[box[1]:box[3], box[0]:box[2]]
        print(f"{label:>5} ({name} {protected.width}x{protected.height}): PSNR {result.receipt.psnr:.1f} dB, "
              f"SSIM {result.receipt.ssim:.3f}, mean change in the crop {region.mean():.2f}/255 "
              f"(max {region.max()}), whole photo {change.mean():.2f}/255")


if __name__ == "__main__":
    main()
