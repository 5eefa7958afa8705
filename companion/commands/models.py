"""`imageprotector models`: the models this machine can use without downloading."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the models this machine can use")
    m.add_argument("--json", action="store_true", help="one JSON object per model: name, family, path")


HINT = ("add a Hugging Face model: `hf download llava-hf/llava-1.5-7b-hf` (then --model llava-hf/llava-1.5-7b-hf), "
        "or give --model a local folder in Hugging Face format; --download fetches a missing one on first use")


def run(args: argparse.Namespace) -> int:
    from companion.models.registry import cached_models

    for info in cached_models():
        if args.json:
            print(json.dumps({"name": info.name, "family": info.family, "path": str(info.path)}))
        else:
            print(f"{info.name:40s} {info.family:10s} {info.path}")
    if not args.json:
        print(f"\n{HINT}")
    return 0
