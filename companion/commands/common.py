"""Options and helpers the subcommands share: model selection and protection settings."""

from __future__ import annotations

import argparse

from companion.engine.sites import JPEG_BACKENDS, SITES
from companion.server.config import OFFLOAD_MODES

#: --offload's help, for the commands that attack and for serve
OFFLOAD_HELP = ("an ensemble on one GPU: auto (the default, or config.json's) keeps the weights there together "
                "when they fit, always rests each model's in host memory between its turns, never keeps them all")

def whole_number(low: int, high: int | None = None, zero: bool = False):
    """An argparse type: a whole number from `low` to `high` (and 0 too, with `zero`), so a bad
    value is one usage error before any photo is touched."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if zero and value == 0:
            return 0
        if value < low or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"must be {limits}{' (or 0)' if zero else ''}, not {value}")
        return value

    return parse


def refuse_bad_inputs(command: str, paths) -> bool:
    """Before any work: one line on stderr for each input that is missing or cannot be read;
    whether there was any (the command then exits 2)."""
    import sys

    problems = check_inputs(paths)
    for line in problems:
        print(f"imageprotector {command}: error: {line}", file=sys.stderr)
    return bool(problems)


def check_inputs(paths) -> list[str]:
    """One line for each input that is missing or cannot be read."""
    import os

    problems = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file")
        elif path.is_dir():
            problems.append(f"{path}: is a folder, not a photo")
        elif not os.access(path, os.R_OK):
            problems.append(f"{path}: not readable (permission denied)")
    return problems


def device_name(value: str) -> str:
    """An argparse type for --device: auto, cpu, cuda, cuda:N (one GPU of several) or mps."""
    if value in ("auto", "cpu", "cuda", "mps") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps")


def add_model_options(p: argparse.ArgumentParser, attacks: bool = True) -> None:
    """--model, --device, --download; and --checkpointing where the command attacks (`check` only asks)."""
    p.add_argument(
        "--model", action="append",
        help="'demo', a preset (fast, strong, demo-families, or config.json's), a local folder or a Hugging Face id; "
             "repeat for an ensemble"
    )
    p.add_argument("--device", default="auto", type=device_name,
                   help="auto, cpu, cuda, cuda:N or mps: where the models run (default auto: CUDA, else "
                        "Apple's MPS, else the CPU; with several GPUs and no N, the models are spread over them)")
    p.add_argument("--download", action="store_true", help="download a model missing from the Hugging Face cache")
    if attacks:
        p.add_argument("--checkpointing", action="store_true",
                       help="recompute each layer's activations in the backward pass: about a third more time "
                            "a step, much less GPU memory, the same perturbation")
        p.add_argument("--offload", choices=OFFLOAD_MODES, default=None, help=OFFLOAD_HELP)


def add_protection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", default="generic", choices=list(SITES),
                   help="where the photo will be posted: output size and format, and the re-encoding to survive")
    p.add_argument("--no-robust", action="store_true",
                   help="optimise for the file only, not for the site's re-encoding (faster, weaker after upload)")
    p.add_argument("--jpeg-backend", default="pillow", choices=list(JPEG_BACKENDS),
                   help="JPEG in the robust loop: Pillow straight-through (default) or kornia's differentiable codec")
    p.add_argument("--epsilon", type=whole_number(1, 64), default=8,
                   help="largest change per pixel, in /255, 1-64 (default 8)")
    p.add_argument("--steps", type=whole_number(1, 100_000), default=200,
                   help="the most attack steps (default 200; it stops early once the model refuses)")
    p.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=0,
                   help="seed of the attack's random starts and views: the same seed, the same result (default 0)")
    p.add_argument("--max-size", type=whole_number(32, zero=True), default=None,
                   help="cap on the output's long edge in px, 32 or more (default: the site's size, or 2048 where "
                        "the site keeps any size; 0: no cap beyond the site's own)")


def protection_options(args: argparse.Namespace, **overrides):
    """ProtectOptions from the parsed protection options."""
    from companion.engine.protect import ProtectOptions

    values = dict(epsilon=args.epsilon, steps=args.steps, seed=args.seed, site=args.site, robust=not args.no_robust,
                  jpeg_backend=args.jpeg_backend, max_edge=args.max_size)
    values.update(overrides)
    return ProtectOptions(**values)


def load_engine(args: argparse.Namespace):
    """An Engine over the models named by --model (the demo model by default)."""
    from companion.engine.protect import Engine
    from companion.models.registry import load_adapters
    from companion.server.config import load_config

    config = load_config(offload=getattr(args, "offload", None))
    return Engine(load_adapters(args.model or ["demo"], args.device, allow_download=args.download,
                                presets=config.presets, checkpointing=getattr(args, "checkpointing", False),
                                offload_mode=config.offload))
