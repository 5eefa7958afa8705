"""`imageprotector evaluate`: refusal rates of clean and protected photos under distortions.

    imageprotector evaluate PHOTO... [--site facebook] [--questions FILE | --questions held-out]
    imageprotector evaluate --dataset vqav2 --dataset-questions Q.json --dataset-images DIR --limit 50
        [--json] [--plot chart.png]
    imageprotector evaluate PHOTO... --transfer --model A --model B ... [--site instagram]

Protects each photo with the given setting, then reports per distortion (none, JPEG
95/85/75, resize to 1080 and 2048 px, WebP 80, Gaussian noise 4/8/16, and the site's whole
pipeline) the refusal rate of clean and protected photos, the clean answers' rate of
non-refusal (the analyst's utility), PSNR, SSIM and seconds per photo.

With --transfer (two or more models, presets expanded), each photo is protected against
each model alone and against all of them together, and every model is asked about every
result, as written and after the site's pipeline: which models a perturbation protects
against, and how far it carries to the others (engine/transfer.py).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from companion.commands.common import (add_model_options, add_protection_options, load_engine, protection_options,
                                       whole_number)
from companion.engine.errors import ProtectError

BUILT_IN = ("held-out", "shadow", "privacy")


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure protection under JPEG, resizing, noise and a site's pipeline")
    p.add_argument("photos", nargs="*", type=Path, metavar="PHOTO")
    p.add_argument("--dataset", choices=["vqav2", "gqa", "textvqa", "celeba"], help="evaluate on a dataset's images")
    p.add_argument("--dataset-questions", type=Path, help="the dataset's questions file (celeba: optional partition list)")
    p.add_argument("--dataset-images", type=Path, help="the folder of the dataset's images")
    p.add_argument("--limit", type=whole_number(1), default=20, help="the most dataset images to evaluate (default 20)")
    p.add_argument("--questions", default=None,
                   help="a file of questions (one per line or a JSON list) or a built-in set: held-out (default for "
                        "photos), shadow (the attack's own), privacy (CelebA's); datasets default to their own")
    add_model_options(p)
    add_protection_options(p)
    p.add_argument("--transfer", action="store_true",
                   help="protect against each --model alone and all together, and ask every model (two or more)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write a chart of refusal rate per distortion")


def run(args: argparse.Namespace) -> int:
    from companion.commands.progress_bars import Bars
    from companion.engine.distortions import distortions
    from companion.engine.evaluate import evaluate

    if args.plot:  # a missing plotting library is said before the minutes of work, not after
        import importlib.util

        from companion.engine.errors import MissingDependency

        if importlib.util.find_spec("matplotlib") is None:
            raise MissingDependency("matplotlib", "evaluate")
    if args.transfer:
        return _transfer(args)
    items = _items(args)
    engine = load_engine(args)
    options = protection_options(args)
    bars = Bars(len(items), enabled=not args.json)
    try:
        report = evaluate(engine, items, options, distortions(args.site),
                          per_photo=lambda item: bars.photo(item.name, options.steps))
    finally:
        bars.close()
    if args.plot:
        from companion.report_plot import plot_report

        plot_report(report, args.plot)
    print(json.dumps(_clean_floats(report.to_dict()), indent=1) if args.json else table(report))
    if not report.evaluated:
        raise ProtectError("nothing_evaluated", "no photo could be evaluated")
    return 1 if len(report.evaluated) < len(report.photos) else 0


def _transfer(args: argparse.Namespace) -> int:
    from companion.commands.progress_bars import Bars
    from companion.engine.distortions import distortions
    from companion.engine.transfer import protecting_sets, table, transfer

    if args.plot:
        raise ProtectError("usage", "--plot draws the distortion chart; it does not go with --transfer")
    items = _items(args)
    engine = load_engine(args)
    if len(engine.adapters) < 2:
        raise ProtectError("usage", "--transfer needs two or more models (--model A --model B, or a preset)")
    options = protection_options(args)
    chosen = {name: d for name, d in distortions(args.site).items() if name == "none" or name.startswith("site:")}
    bars = Bars(len(items) * len(protecting_sets(engine.adapters)), enabled=not args.json)
    try:
        report = transfer(engine.adapters, items, options, chosen,
                          per_photo=lambda item, label: bars.photo(f"{item.name} vs {label}", options.steps))
    finally:
        bars.close()
    print(json.dumps(report.to_dict(), indent=1) if args.json else table(report))
    return 1 if report.failed else 0


def _questions(spec: str | None) -> list[str] | None:
    from companion.datasets.celeba import CELEBA_QUESTIONS
    from companion.engine.questions import HELD_OUT_QUESTIONS, SHADOW_QUESTIONS, load_questions

    if spec is None:
        return None
    built_in = {"held-out": HELD_OUT_QUESTIONS, "shadow": SHADOW_QUESTIONS, "privacy": CELEBA_QUESTIONS}
    return list(built_in[spec]) if spec in built_in else load_questions(spec)


def _items(args: argparse.Namespace) -> list:
    from companion.datasets import load_dataset
    from companion.engine.evaluate import EvalItem
    from companion.engine.imageio import read_file
    from companion.engine.questions import HELD_OUT_QUESTIONS

    if not args.photos and not args.dataset:
        raise ProtectError("usage", "give photos, or --dataset with --dataset-images")
    override = _questions(args.questions)
    items = []
    for photo in args.photos:
        items.append(EvalItem(str(photo), read_file(photo), override or list(HELD_OUT_QUESTIONS)))
    if args.dataset:
        if args.dataset_images is None:
            raise ProtectError("usage", "--dataset needs --dataset-images (and, except for celeba, --dataset-questions)")
        for sample in load_dataset(args.dataset, args.dataset_questions, args.dataset_images, args.limit):
            items.append(EvalItem(f"{args.dataset}:{sample.id}", read_file(sample.image), override or sample.questions))
    return items


def _clean_floats(value):
    """JSON has no NaN: report missing figures as null; the rest to 4 decimals (a PSNR of
    42.18997202673867 claims a precision nothing here has)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_floats(v) for v in value]
    return value


def table(report) -> str:
    """The report as a readable text table."""
    data = report.to_dict()
    s = report.settings
    lines = [
        f"{len(report.evaluated)} of {len(report.photos)} photos evaluated; site {s['site']}, eps {s['epsilon']}/255, "
        f"robust {'on' if s['robust'] else 'off'}, up to {s['steps']} steps",
        f"PSNR {data['psnr']:.1f} dB, SSIM {data['ssim']:.3f}, {data['seconds_per_photo']:.1f} s per photo to protect",
        "",
        f"{'distortion':>16} | {'model':>16} | {'refusal clean':>13} | {'refusal protected':>17} | {'clean utility':>13}",
        "-" * 88,
    ]
    for row in report.summary():
        lines.append(f"{row.distortion:>16} | {row.model[-16:]:>16} | {row.clean_refusal:13.3f} | "
                     f"{row.protected_refusal:17.3f} | {row.clean_utility:13.3f}")
    for photo in report.photos:
        if photo.error:
            lines.append(f"error  {photo.name}: {photo.error}")
    return "\n".join(lines)
