"""`imageprotector watch`: protect each new photo in chosen folders, once (see watcher/)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading


def add_parser(sub) -> None:
    p = sub.add_parser("watch", help="protect each new photo in these folders, once (outputs in DIR/protected/)")
    p.add_argument("folders", nargs="*", metavar="DIR", help="default: the config file's 'watch' list")
    p.add_argument("--out-dir", help="where protected photos go (default: a 'protected' folder in each folder)")
    p.add_argument("--recursive", action="store_true", help="also the folders below")
    p.add_argument("--site", help="the site profile for these photos (default: generic)")
    p.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="how long a file must stay unchanged before it is taken (default 1)")
    p.add_argument("--status", action="store_true", help="print the folders, counts by state and the last errors")
    p.add_argument("--json", action="store_true", help="with --status: as JSON")


def run(args: argparse.Namespace) -> int:
    from companion.server.config import load_config
    from watcher.run import as_client, folders_from, status_lines
    from watcher.state import State, default_path

    if args.status:
        state = State(default_path())
        try:
            print(json.dumps(state.summary(), indent=2) if args.json else "\n".join(status_lines(state)))
        finally:
            state.close()
        return 0
    if args.settle < 0:
        print("imageprotector watch: error: --settle must be 0 or more", file=sys.stderr)
        return 2
    folders = folders_from(load_config(), args.folders, args.out_dir, args.recursive, args.site)
    if not folders:
        print("imageprotector watch: error: no folder given, and none in the config file's 'watch'", file=sys.stderr)
        return 2
    watcher, state = as_client(load_config, folders, settle=args.settle)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    watcher.start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        watcher.stop()
        state.close()
    return 0
