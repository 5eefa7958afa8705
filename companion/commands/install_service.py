"""`imageprotector install-service`: run the companion, with its watched folders, at login."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("install-service", help="start the companion (and its watched folders) at login")
    p.add_argument("--watch", action="append", metavar="DIR",
                   help="a folder the service watches (repeatable; default: the config file's 'watch' list)")
    p.add_argument("--dry-run", action="store_true", help="print what would be written and run, do nothing")
    p.add_argument("--uninstall", action="store_true", help="stop the service and remove what install wrote")


def run(args: argparse.Namespace) -> int:
    from companion.login_service import apply, plan, remove
    from watcher.folders import Folder

    folders = [str(Folder.make(d).path) for d in args.watch or []]  # checked now, not at the next login
    platform = sys.platform if sys.platform in ("darwin", "win32") else "linux"
    service = plan(platform, folders)
    if args.dry_run:
        for line in service.describe(args.uninstall):
            print(f"would {line}")
        return 0
    if args.uninstall:
        removed = remove(service)
        print("\n".join(f"removed {r}" for r in removed) if removed else "stopped; no file to remove")
        return 0
    failed = apply(service)
    for line in service.describe():
        print(f"did {line}")
    if failed:
        for command in failed:
            print(f"imageprotector install-service: error: this failed: {command}", file=sys.stderr)
        return 1
    print("done: the companion starts at login" + (f", watching {', '.join(folders)}" if folders else ""))
    return 0
