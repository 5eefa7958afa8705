"""`imageprotector protect PHOTO...`: protect photos, one result line (or JSON object) each.

Each photo gets its own progress bar (on a terminal) and one result line as soon as it is
done, so a long batch can be watched and interrupted without losing finished photos.
Options and inputs are checked before any work: a bad option is one usage error (exit 2),
and so is a missing or unreadable photo, so a typo does not wait for the minutes of a long
batch to show. A photo that fails later gets a one-line error and the batch goes on; an
existing output is kept unless --force. Exit status: 0 when every photo was protected and
(unless --no-verify) its receipt verified, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from companion.commands.common import (add_model_options, add_protection_options, load_engine, protection_options,
                                       refuse_bad_inputs)
from companion.commands.progress_bars import Bars
from companion.engine.errors import ProtectError


#: every --json row has exactly these keys, in this order (README, "The --json rows of protect")
JSON_FIELDS = ("input", "output", "ok", "error", "code", "steps", "seconds", "site", "width", "height", "refusal_rate",
               "site_refusal_rate", "verified", "psnr", "ssim", "linf")


def add_parser(sub) -> None:
    p = sub.add_parser("protect", help="protect photos; writes <name>.protected.<ext> beside each")
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, help="output file (one photo only)")
    out.add_argument("--out-dir", type=Path, help="folder for the protected photos")
    add_model_options(p)
    add_protection_options(p)
    p.add_argument("--format", choices=["keep", "jpeg", "png", "webp"], default=None,
                   help="output format (default: the site's; for generic, the original's)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the receipt (faster, but unverified; the exit status then says only that it was written)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output (never the original)")
    p.add_argument("--json", action="store_true", help="one JSON object per photo on stdout (and no progress bars)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (the result lines stay)")


def run(args: argparse.Namespace) -> int:
    if args.output and len(args.photos) > 1:
        raise ProtectError("usage", "-o/--output takes one photo; use --out-dir for several")
    if refuse_bad_inputs("protect", args.photos):
        return 2
    engine = load_engine(args)
    options = protection_options(args, format=args.format, verify=not args.no_verify)
    bars = Bars(len(args.photos), enabled=not (args.json or args.quiet))
    failures = 0
    try:
        for photo in args.photos:
            record = _protect_one(engine, photo, options, args, bars)
            failures += not (record["ok"] and record["verified"] is not False)
            print(json.dumps(record) if args.json else _line(record), flush=True)
    finally:
        bars.close()
    return 1 if failures else 0


def _output_path(photo: Path, args: argparse.Namespace, extension: str) -> Path:
    from companion.engine.protect import output_name

    if args.output:
        return args.output
    folder = args.out_dir if args.out_dir else photo.parent
    return folder / output_name(photo.stem, extension)


def _planned_extension(photo: Path, options) -> str:
    """The output's extension before the work (from the file's header, not its pixels)."""
    from PIL import Image

    from companion.engine.imageio import FORMATS, planned_format
    from companion.engine.sites import get_site

    try:
        with Image.open(photo) as image:
            source = image.format
    except Exception:  # noqa: BLE001 - not a photo: the engine says so, in its own words
        source = None
    return FORMATS[planned_format(source, options.format or get_site(options.site).output_format)]


def _protect_one(engine, photo: Path, options, args: argparse.Namespace, bars: Bars) -> dict:
    from companion.engine.imageio import read_file, write_atomic

    record: dict = dict.fromkeys(JSON_FIELDS)
    record.update(input=str(photo), ok=False, steps=0, seconds=0.0, site=options.site)
    try:
        planned = _output_path(photo, args, _planned_extension(photo, options))
        if planned.exists() and not args.force and planned.resolve() != photo.resolve():
            raise ProtectError("output_exists", f"{planned} exists; --force overwrites it")
        data = read_file(photo)
        with bars.photo(photo.name, options.steps) as (progress, phase):
            result = engine.protect(data, options, progress=progress, phase=phase)
        out = _output_path(photo, args, result.extension)
        if out.resolve() == photo.resolve():
            raise ProtectError("would_overwrite", f"refusing to overwrite the original {photo}")
        if out.exists() and not args.force:
            raise ProtectError("output_exists", f"{out} exists; --force overwrites it")
        write_atomic(out, result.data)
        receipt = result.receipt
        record.update(
            output=str(out), ok=True, steps=result.steps, seconds=round(result.seconds, 2),
            psnr=round(receipt.psnr, 2), ssim=round(receipt.ssim, 4), linf=receipt.linf,
            width=result.size[0], height=result.size[1],
        )
        if options.verify:
            record.update(refusal_rate=_rate(receipt.refusal_rate), site_refusal_rate=_rate(receipt.site_refusal_rate),
                          verified=receipt.protected)
    except ProtectError as exc:
        record.update(error=exc.message, code=exc.code)
    except OSError as exc:
        record.update(error=f"cannot write output: {exc.strerror or exc}", code="write_failed")
    return record


def _rate(value: float) -> float | None:
    """A refusal rate as --json prints it: 4 decimals (22 questions make steps of 0.045)."""
    import math

    return None if value is None or math.isnan(value) else round(value, 4)


def _line(record: dict) -> str:
    if not record["ok"]:
        return f"error  {record['input']}: {record['error']} [{record['code']}]"
    text = (
        f"ok     {record['input']} -> {record['output']}  {record['width']}x{record['height']}, "
        f"{record['steps']} step{'' if record['steps'] == 1 else 's'}, "
        f"{record['seconds']:.1f} s, PSNR {record['psnr']:.1f} dB, SSIM {record['ssim']:.3f}, Linf {record['linf']}/255"
    )
    if record["refusal_rate"] is None:
        return text + ", not verified"
    text += (f", refusal rate {record['refusal_rate']:.2f} on held-out questions, "
             f"{record['site_refusal_rate']:.2f} after {record['site']}'s re-encoding")
    return text if record.get("verified") else text + "  WARNING: weak protection"
