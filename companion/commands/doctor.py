"""`imageprotector doctor`: what is wrong between the browser and the model, and what to do."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check the browser host, the companion and the model; say what to fix")
    p.add_argument("--user-data-dir", type=Path, default=None,
                   help="check the host manifest of this one browser profile folder")
    p.add_argument("--json", action="store_true", help="one JSON object: ok, checks, log_dir")


def run(args: argparse.Namespace) -> int:
    from companion.doctor import run_checks, to_json

    checks = run_checks(args.user_data_dir)
    if args.json:
        print(to_json(checks))
    else:
        for check in checks:
            print(check.line())
        print("all checks passed" if all(c.ok for c in checks) else "some checks failed (see -> for what to do)")
    return 0 if all(c.ok for c in checks) else 1
