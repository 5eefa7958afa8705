"""Options and helpers the subcommands share: model selection and protection settings."""

from __future__ import annotations

import argparse

from companion.engine.robust import JPEG_BACKENDS
from companion.engine.sites import SITES


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", action="append",
        help="'demo', a local folder or a Hugging Face id; repeat for an ensemble"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--download", action="store_true", help="download a model missing from the Hugging Face cache")


def add_protection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", default="generic", choices=list(SITES),
                   help="where the photo will be posted: output size and format, and the re-encoding to survive")
    p.add_argument("--no-robust", action="store_true",
                   help="optimise for the file only, not for the site's re-encoding (faster, weaker after upload)")
    p.add_argument("--jpeg-backend", default="pillow", choices=list(JPEG_BACKENDS),
                   help="JPEG in the robust loop: Pillow straight-through (default) or kornia's differentiable codec")
    p.add_argument("--epsilon", type=int, default=8, help="largest change per pixel, in /255 (default 8)")
    p.add_argument("--steps", type=int, default=200, help="the most attack steps (it stops early once done)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, default=None,
                   help="cap on the output's long edge in px (default: the site's size; 0: no cap)")


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
    from companion.models.registry import load_adapter

    return Engine([load_adapter(name, args.device, allow_download=args.download) for name in args.model or ["demo"]])
