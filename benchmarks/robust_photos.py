"""Issue 3's acceptance run: protection that survives the site, robust vs plain.

    python benchmarks/robust_photos.py [--site facebook --site instagram --site x] [--quality 75] [--quick]
                                       [--model NAME ...] [--robust-only] [--start K]

For each site profile and each photo of benchmarks/protect_photos.py (21 natural photos,
172 px to 12 MP, PNG and JPEG), the photo is protected twice with the profile (output at
the profile's size and format): with the robust optimisation (expectation over the site's
re-encodings and small rescales) and without it. Each protected file, and the clean photo,
then goes through a real Pillow pipeline: the profile's resize, then JPEG at --quality
(4:2:0), and the demo model answers the held-out questions. Prints one row per photo and,
per profile, the mean refusal rates side by side. With several --model, one perturbation is
made against all of them and each photo's figure is its worst model's (each model's own
figure follows at the end of its row, in the order the models were named). --robust-only skips
the plain protection (its column shows "-"), halving the run. --start K begins at the K-th
photo (from 0), to go on with a run that was cut short; its means are over the photos run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_jpeg, encode_png, natural_photo  # noqa: E402
from benchmarks.protect_photos import CASES, QUICK  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.questions import HELD_OUT_QUESTIONS  # noqa: E402
from companion.engine.receipt import verify  # noqa: E402
from companion.engine.sites import get_site  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402


def refusal_after(data: bytes, engine: Engine, pipeline) -> float:
    """The worst model's refusal rate on the held-out questions about `data` after `pipeline`."""
    return min(members_after(data, engine, pipeline))


def members_after(data: bytes, engine: Engine, pipeline) -> list[float]:
    """Each model's refusal rate on the held-out questions about `data` after `pipeline`."""
    return [m.refusal_rate for m in verify(data, engine.adapters, HELD_OUT_QUESTIONS, pipeline)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--site", action="append")
    parser.add_argument("--epsilon", type=int, default=8)
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality of the simulated upload")
    parser.add_argument("--quick", action="store_true", help="8 photos up to 1200 px")
    parser.add_argument("--robust-only", action="store_true", help="skip the plain protection")
    parser.add_argument("--start", type=int, default=0, help="begin at this photo (from 0): go on with a cut run")
    parser.add_argument("--photo", action="append", metavar="NAME[@WIDTH]",
                        help="only this photo: NAME at every size, NAME@WIDTH at that width; repeatable")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each step: each model's loss and share of the step, each check, a model out of reach")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("companion.engine").setLevel(logging.DEBUG)
    photos = QUICK if args.quick else CASES
    if args.photo:
        photos = [c for c in photos if c[0] in args.photo
                  or f"{c[0]}@{c[1][0] if c[1] else natural_photo(c[0]).width}" in args.photo]
    cases = photos[args.start:]
    if not cases:
        parser.error("no photo to run: see --start and --photo")
    engine = Engine([load_adapter(m, args.device) for m in args.model or ["demo"]])
    summary = []
    for name in args.site or ["facebook", "instagram", "x"]:
        site = get_site(name)
        upload = lambda image, site=site: site.apply(image, args.quality)  # noqa: E731
        print(f"\n{site.name}: output at the profile's size, then Pillow resize + JPEG {args.quality} 4:2:0")
        header = (f"{'photo':>20} | {'size':>9} | {'out':>9} | {'clean':>5} | {'plain':>5} | {'steps':>5} | "
                  f"{'robust':>6} | {'steps':>5} | {'s':>6} | {'Linf':>4} | {'PSNR':>5}")
        print(header)
        print("-" * len(header))
        rows, members = [], []
        for photo, size, fmt in cases:
            image = natural_photo(photo, size)
            data = encode_png(image) if fmt == "png" else encode_jpeg(image)
            clean = refusal_after(data, engine, upload)
            robust = engine.protect(data, ProtectOptions(site=site.name, epsilon=args.epsilon, verify=False))
            each = members_after(robust.data, engine, upload)
            r = min(each)
            members.append(each)
            if args.robust_only:
                p, plain_cells = float("nan"), f"{'-':>5} | {'-':>5}"
            else:
                plain = engine.protect(data, ProtectOptions(site=site.name, robust=False, epsilon=args.epsilon,
                                                            verify=False))
                p = refusal_after(plain.data, engine, upload)
                plain_cells = f"{p:5.2f} | {plain.steps:5d}"
            rows.append((clean, p, r, robust.seconds, robust.steps))
            print(f"{photo:>20} | {image.width:>4}x{image.height:<4} | {robust.size[0]:>4}x{robust.size[1]:<4} | "
                  f"{clean:5.2f} | {plain_cells} | {r:6.2f} | {robust.steps:5d} | {robust.seconds:6.1f} | "
                  f"{robust.receipt.linf:4d} | {robust.receipt.psnr:5.1f}"
                  + ("" if len(each) == 1 else " | " + " ".join(f"{v:.2f}" for v in each)), flush=True)
        clean, plain, robust, seconds, steps = zip(*rows)
        if len(engine.adapters) > 1:
            print("mean refusal of each model on the robust files: " + ", ".join(
                f"{a.name} {statistics.mean(col):.3f}" for a, col in zip(engine.adapters, zip(*members))))
        summary.append((site.name, statistics.mean(clean), statistics.mean(plain), statistics.mean(robust),
                        statistics.median(steps), statistics.mean(seconds)))
    print(f"\nmean refusal on held-out questions after the upload (JPEG {args.quality}), {len(cases)} photos")
    print(f"{'site':>10} | {'clean':>5} | {'plain':>5} | {'robust':>6} | {'median steps':>12} | {'s/photo':>7}")
    for row in summary:
        print(f"{row[0]:>10} | {row[1]:5.3f} | {row[2]:5.3f} | {row[3]:6.3f} | {row[4]:12.0f} | {row[5]:7.1f}")


if __name__ == "__main__":
    main()
