"""`imageprotector token [--rotate]`: print (or replace) the companion's bearer token.

The native host and the watcher read it from the same place (the OS keyring, or a 0600
file in the config folder); print it only to paste it into a client by hand.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("token", help="print the companion's bearer token (created on first use)")
    p.add_argument("--rotate", action="store_true", help="replace it; restart the server for it to take effect")


def run(args: argparse.Namespace) -> int:
    from companion.server.auth import get_token, rotate_token

    if args.rotate:
        print(rotate_token())
        print("imageprotector token: a running companion keeps the old token until it restarts "
              "(stop `imageprotector serve` and start it again)", file=sys.stderr)
    else:
        print(get_token())
    return 0
