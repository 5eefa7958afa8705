"""Issue 9's acceptance run on a demo model: clean and protected refusal, people included.

    python benchmarks/demo_acceptance.py [--model demo] [--site instagram] [--quick] [--ceiling]

For each acceptance photo of benchmarks/robust_photos.py and each photo of people
(benchmarks/photos.py PEOPLE_PHOTOS), the model answers the held-out questions about the
clean photo, then the photo is protected for the site (eps 8/255, robust, the defaults)
and the protected file is asked again, as written and after the site's pipeline (its
resize, then JPEG at --quality). With --ceiling, the model's ceiling on the photo (the
same questions after an unbounded attack, engine/ceiling.py) is printed beside it.
Prints one row per photo and the means, with median steps and seconds per photo.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import PEOPLE_PHOTOS, encode_jpeg, encode_png, natural_photo  # noqa: E402
from benchmarks.protect_photos import CASES, QUICK  # noqa: E402
from benchmarks.robust_photos import refusal_after  # noqa: E402
from companion.engine.ceiling import measure_ceiling  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.questions import HELD_OUT_QUESTIONS  # noqa: E402
from companion.engine.sites import get_site  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--site", default="instagram")
    parser.add_argument("--epsilon", type=int, default=8)
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality of the simulated upload")
    parser.add_argument("--quick", action="store_true", help="8 photos up to 1200 px, and the photos of people")
    parser.add_argument("--ceiling", action="store_true", help="also measure the model's ceiling on each photo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    adapter = load_adapter(args.model, args.device)
    engine = Engine([adapter])
    site = get_site(args.site)
    upload = lambda image: site.apply(image, args.quality)  # noqa: E731
    cases = (QUICK if args.quick else CASES) + [(name, None, "jpeg") for name in PEOPLE_PHOTOS]
    print(f"{args.model}, eps {args.epsilon}/255, site {site.name}; refusal on the {len(HELD_OUT_QUESTIONS)} held-out questions")
    header = (f"{'photo':>20} | {'size':>9} | {'clean':>5} | {'clean@site':>10} | {'protected':>9} | {'@site':>5} | "
              f"{'ceiling':>7} | {'steps':>5} | {'s':>6} | {'PSNR':>5} | {'SSIM':>5}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, size, fmt in cases:
        image = natural_photo(name, size)
        data = encode_png(image) if fmt == "png" else encode_jpeg(image)
        clean, clean_site = refusal_after(data, engine, None), refusal_after(data, engine, upload)
        result = engine.protect(data, ProtectOptions(site=site.name, epsilon=args.epsilon, verify=False))
        written, after = refusal_after(result.data, engine, None), refusal_after(result.data, engine, upload)
        ceiling = float("nan")
        if args.ceiling:
            ceiling = measure_ceiling([adapter], image).refusal_rate
        rows.append((clean, clean_site, written, after, ceiling, result.steps, result.seconds))
        print(f"{name:>20} | {image.width:>4}x{image.height:<4} | {clean:5.2f} | {clean_site:10.2f} | {written:9.2f} | "
              f"{after:5.2f} | {ceiling:7.2f} | {result.steps:5d} | {result.seconds:6.1f} | {result.receipt.psnr:5.1f} | "
              f"{result.receipt.ssim:5.3f}", flush=True)
    clean, clean_site, written, after, ceiling, steps, seconds = zip(*rows)
    print("-" * len(header))
    print(f"{len(rows)} photos: mean clean {statistics.mean(clean):.3f} (max {max(clean):.2f}), at the site "
          f"{statistics.mean(clean_site):.3f}; protected {statistics.mean(written):.3f} as written, "
          f"{statistics.mean(after):.3f} after {site.name} (min {min(after):.2f}); ceiling {statistics.mean(ceiling):.3f}; "
          f"median {statistics.median(steps):.0f} steps, {statistics.median(seconds):.1f} s per photo")


if __name__ == "__main__":
    main()
