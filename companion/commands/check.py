"""`imageprotector check PHOTO...`: is this photo (still) protected?

The receipt for any photo, typically one downloaded back from a site after posting: each
model answers the held-out questions and the refusal rates are reported. This verifies the
site's real upload pipeline instead of our simulation of it. Exit status 0 only when every
photo counts as protected (refusal rate at least MIN_REFUSAL for every model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from companion.commands.common import add_model_options, load_engine, refuse_bad_inputs
from companion.engine.errors import ProtectError
from companion.engine.judge import MIN_REFUSAL


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check whether photos are protected (e.g. ones downloaded back from a site)")
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    add_model_options(p, attacks=False)
    p.add_argument("--answers", action="store_true", help="also print each question and the model's answer")
    p.add_argument("--json", action="store_true", help="one JSON object per photo on stdout")


def run(args: argparse.Namespace) -> int:
    from companion.engine.imageio import read_file
    from companion.engine.protect import check

    if refuse_bad_inputs("check", args.photos):  # before the model loads: a typo costs nothing
        return 2
    engine = load_engine(args)
    failures = 0
    for photo in args.photos:
        record: dict = {"input": str(photo), "ok": False, "protected": False, "error": None, "models": []}
        try:
            receipts = check(read_file(photo), engine.adapters)
            record.update(ok=True, protected=all(r.refusal_rate >= MIN_REFUSAL for r in receipts), models=[
                {"model": r.model, "refusal_rate": r.refusal_rate, **({"answers": r.answers} if args.answers else {})}
                for r in receipts
            ])
        except ProtectError as exc:
            record.update(error=exc.message, code=exc.code)
        failures += not record["protected"]
        print(json.dumps(record) if args.json else _lines(record, args.answers), flush=True)
    return 1 if failures else 0


def _lines(record: dict, answers: bool) -> str:
    if not record["ok"]:
        return f"error          {record['input']}: {record['error']} [{record['code']}]"
    verdict = "protected    " if record["protected"] else "NOT protected"
    rates = ", ".join(f"{m['model']} refuses {m['refusal_rate']:.2f}" for m in record["models"])
    lines = [f"{verdict}  {record['input']}: {rates} of held-out questions (protected at >= {MIN_REFUSAL:.2f})"]
    if answers:
        for m in record["models"]:
            lines += [f"    [{m['model']}] {q} -> {a}" for q, a in m["answers"]]
    return "\n".join(lines)
