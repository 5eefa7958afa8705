"""`imageprotector models`: the models this machine can use without downloading."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the models this machine can use")
    m.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from companion.models.registry import cached_models

    for info in cached_models():
        if args.json:
            print(json.dumps({"name": info.name, "family": info.family, "path": str(info.path)}))
        else:
            print(f"{info.name:40s} {info.family:10s} {info.path}")
    return 0
