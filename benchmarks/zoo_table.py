"""Issue 9's zoo table: on each test model, the ceiling and what the attack reaches at 8/255.

    python benchmarks/zoo_table.py [--model zoo-chatml ...] [--site instagram] [--photos N]

For every model of the zoo (companion/demo/zoo.py; `demo` too with --model demo) and each
photo (photos with and without people, at their own sizes), three refusal rates on the 22
held-out questions: the clean photo's, the model's ceiling on it (an unbounded attack,
engine/ceiling.py) and the protected file's after the site's pipeline (its resize, then
JPEG at --quality), with the attack's defaults (eps 8/255, robust for the site, whole
frame, targets fitted to the model). With --compare-targets each photo is protected a
second time with the paper's fixed refusal phrasings instead (`adapt_targets` off), the
choice the zoo was built to measure. Prints one row per photo and, per model, the means,
the share of its ceiling reached and the median steps and seconds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_jpeg, encode_png, natural_photo  # noqa: E402
from benchmarks.robust_photos import refusal_after  # noqa: E402
from companion.engine.ceiling import measure_ceiling  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.sites import get_site  # noqa: E402
from companion.models.registry import ZOO, load_adapter  # noqa: E402

#: (photo, size, container): portraits and people first, then photos without people
PHOTOS = [
    ("grace_hopper", None, "jpeg"),
    ("astronaut", None, "png"),
    ("lfw_85", None, "png"),
    ("coffee", None, "png"),
    ("chelsea", (1200, 798), "jpeg"),
    ("stereo_motorcycle", None, "png"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="default: every zoo model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--site", default="instagram")
    parser.add_argument("--epsilon", type=int, default=8)
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality of the simulated upload")
    parser.add_argument("--photos", type=int, default=len(PHOTOS), help="the first N photos only")
    parser.add_argument("--compare-targets", action="store_true", help="also protect with the fixed phrasings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    site = get_site(args.site)
    upload = lambda image: site.apply(image, args.quality)  # noqa: E731
    summary = []
    for name in args.model or ZOO:
        adapter = load_adapter(name, args.device)
        engine = Engine([adapter])
        print(f"\n{name}, eps {args.epsilon}/255, site {site.name}: refusal on the 22 held-out questions")
        header = (f"{'photo':>18} | {'size':>9} | {'clean':>5} | {'ceiling':>7} | {'c@site':>6} | {'written':>7} | "
                  f"{'@site':>5} | {'steps':>5} | {'s':>6} | {'PSNR':>5} | {'fixed@site':>10} | {'steps':>5}")
        print(header)
        print("-" * len(header))
        rows = []
        for photo, size, fmt in PHOTOS[: args.photos]:
            image = natural_photo(photo, size)
            data = encode_png(image) if fmt == "png" else encode_jpeg(image)
            clean = refusal_after(data, engine, upload)
            ceiling = measure_ceiling([adapter], image).refusal_rate
            site_ceiling = measure_ceiling([adapter], image, site=site, quality=args.quality).refusal_rate
            result = engine.protect(data, ProtectOptions(site=site.name, epsilon=args.epsilon, verify=False))
            written, after = refusal_after(result.data, engine, None), refusal_after(result.data, engine, upload)
            fixed, fixed_steps = float("nan"), 0
            if args.compare_targets:
                plain = engine.protect(data, ProtectOptions(site=site.name, epsilon=args.epsilon, verify=False,
                                                            adapt_targets=False))
                fixed, fixed_steps = refusal_after(plain.data, engine, upload), plain.steps
            rows.append((clean, ceiling, written, after, result.steps, result.seconds, fixed, site_ceiling))
            print(f"{photo:>18} | {image.width:>4}x{image.height:<4} | {clean:5.2f} | {ceiling:7.2f} | "
                  f"{site_ceiling:6.2f} | {written:7.2f} | "
                  f"{after:5.2f} | {result.steps:5d} | {result.seconds:6.1f} | {result.receipt.psnr:5.1f} | "
                  f"{fixed:10.2f} | {fixed_steps:5d}", flush=True)
        clean, ceiling, written, after, steps, seconds, fixed, site_ceiling = zip(*rows)
        summary.append((name, statistics.mean(clean), statistics.mean(ceiling), statistics.mean(written),
                        statistics.mean(after), statistics.median(steps), statistics.median(seconds),
                        statistics.mean(fixed), statistics.mean(site_ceiling)))
    print(f"\nper model, means over the photos (after = after {site.name}'s resize and JPEG {args.quality})")
    header = (f"{'model':>20} | {'clean':>5} | {'ceiling':>7} | {'c@site':>6} | {'written':>7} | {'after':>5} | "
              f"{'after/ceiling':>13} | {'after/c@site':>12} | {'median steps':>12} | {'s/photo':>7} | "
              f"{'fixed: after':>12}")
    print(header)
    print("-" * len(header))
    for name, clean, ceiling, written, after, steps, seconds, fixed, site_ceiling in summary:
        print(f"{name:>20} | {clean:5.3f} | {ceiling:7.3f} | {site_ceiling:6.3f} | {written:7.3f} | {after:5.3f} | "
              f"{after / ceiling:13.2f} | {after / site_ceiling:12.2f} | {steps:12.0f} | {seconds:7.1f} | "
              f"{fixed:12.3f}")


if __name__ == "__main__":
    main()
