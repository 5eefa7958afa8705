"""`imageprotector`: the command line over the engine.

    imageprotector protect PHOTO... [-o OUT | --out-dir DIR] [--model NAME ...] [--json]
    imageprotector models [--json]

Each photo gets its own progress bar (on a terminal) and one result line as soon as it is
done, so a long batch can be watched and interrupted without losing finished photos.
A photo that fails gets a one-line error and the batch goes on; the exit status is 0 only
when every photo was protected and its receipt verified.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from companion import __version__
from companion.engine.errors import ProtectError

log = logging.getLogger("imageprotector")

#: a receipt at or above this refusal rate counts as verified protection
MIN_REFUSAL = 0.9


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imageprotector", description="Protect photos from analysis by multimodal LLMs.")
    parser.add_argument("--version", action="version", version=f"imageprotector {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("protect", help="protect photos; writes <name>.protected.<ext> beside each")
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, help="output file (one photo only)")
    out.add_argument("--out-dir", type=Path, help="folder for the protected photos")
    p.add_argument(
        "--model", action="append", help="'demo', a local folder or a Hugging Face id; repeat for an ensemble"
    )
    p.add_argument("--epsilon", type=int, default=8, help="largest change per pixel, in /255 (default 8)")
    p.add_argument("--steps", type=int, default=200, help="the most attack steps (it stops early once done)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["keep", "jpeg", "png", "webp"], default="keep")
    p.add_argument("--max-size", type=int, default=2048, help="long edge of the output in px; 0 keeps the size")
    p.add_argument("--no-verify", action="store_true", help="skip the receipt (faster, but unverified)")
    p.add_argument("--download", action="store_true", help="download a model missing from the Hugging Face cache")
    p.add_argument("--json", action="store_true", help="one JSON object per photo on stdout")

    m = sub.add_parser("models", help="list the models this machine can use")
    m.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        _quiet_libraries()
    try:
        if args.command == "models":
            return _models(args)
        return _protect(args)
    except ProtectError as exc:
        print(f"imageprotector: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imageprotector: interrupted", file=sys.stderr)
        return 130


def _quiet_libraries() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _models(args: argparse.Namespace) -> int:
    from companion.models.registry import cached_models

    for info in cached_models():
        if args.json:
            print(json.dumps({"name": info.name, "family": info.family, "path": str(info.path)}))
        else:
            print(f"{info.name:40s} {info.family:10s} {info.path}")
    return 0


def _output_path(photo: Path, args: argparse.Namespace, extension: str) -> Path:
    from companion.engine.protect import output_name

    if args.output:
        return args.output
    folder = args.out_dir if args.out_dir else photo.parent
    return folder / output_name(photo.stem, extension)


def _protect(args: argparse.Namespace) -> int:
    if args.output and len(args.photos) > 1:
        raise ProtectError("usage", "-o/--output takes one photo; use --out-dir for several")
    from companion.engine.protect import Engine, ProtectOptions
    from companion.models.registry import load_adapter

    names = args.model or ["demo"]
    engine = Engine([load_adapter(name, args.device, allow_download=args.download) for name in names])
    options = ProtectOptions(
        epsilon=args.epsilon,
        steps=args.steps,
        seed=args.seed,
        max_edge=args.max_size or None,
        format=None if args.format == "keep" else args.format,
        verify=not args.no_verify,
    )
    failures = 0
    for photo in args.photos:
        record = _protect_one(engine, photo, options, args)
        failures += not (record["ok"] and record.get("verified", True))
        print(json.dumps(record) if args.json else _line(record), flush=True)
    return 1 if failures else 0


def _protect_one(engine, photo: Path, options, args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from companion.engine.imageio import read_file, write_atomic

    record: dict = {"input": str(photo), "output": None, "ok": False, "error": None, "steps": 0, "seconds": 0.0,
                    "refusal_rate": None, "psnr": None, "linf": None}
    try:
        data = read_file(photo)
        with tqdm(total=options.steps, desc=photo.name, unit="step", leave=False, disable=None, file=sys.stderr) as bar:
            def progress(info) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{info.loss:.3f}")

            result = engine.protect(data, options, progress=progress)
        out = _output_path(photo, args, result.extension)
        if out.resolve() == photo.resolve():
            raise ProtectError("would_overwrite", f"refusing to overwrite the original {photo}")
        write_atomic(out, result.data)
        receipt = result.receipt
        record.update(
            output=str(out), ok=True, steps=result.steps, seconds=round(result.seconds, 2),
            refusal_rate=None if not options.verify else receipt.refusal_rate,
            psnr=round(receipt.psnr, 2), linf=receipt.linf, width=result.size[0], height=result.size[1],
        )
        if options.verify:
            record["verified"] = receipt.refusal_rate >= MIN_REFUSAL
    except ProtectError as exc:
        record.update(error=exc.message, code=exc.code)
    except OSError as exc:
        record.update(error=f"cannot write output: {exc.strerror or exc}", code="write_failed")
    return record


def _line(record: dict) -> str:
    if not record["ok"]:
        return f"error  {record['input']}: {record['error']} [{record['code']}]"
    text = (
        f"ok     {record['input']} -> {record['output']}  {record['steps']} steps, {record['seconds']:.1f} s, "
        f"PSNR {record['psnr']:.1f} dB, Linf {record['linf']}/255"
    )
    if record["refusal_rate"] is None:
        return text + ", not verified"
    text += f", refusal rate {record['refusal_rate']:.2f} on held-out questions"
    return text if record.get("verified") else text + "  WARNING: weak protection"


if __name__ == "__main__":
    sys.exit(main())
