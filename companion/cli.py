"""`imageprotector`: the command line over the engine.

    imageprotector protect PHOTO... [--site NAME] [-o OUT | --out-dir DIR] [--model NAME ...] [--json]
    imageprotector check PHOTO... [--json]
    imageprotector evaluate PHOTO... | --dataset KIND ... [--json] [--plot PNG]
    imageprotector models [--json]
    imageprotector serve [--port 8765] [--model NAME ...] [--device ...]
    imageprotector token [--rotate]
    imageprotector watch DIR... [--out-dir DIR] [--recursive] [--site NAME] | --status
    imageprotector install-service [--watch DIR ...] [--dry-run] [--uninstall]

Each subcommand lives in companion/commands/; this module parses, sets up logging and
turns errors into one line and an exit status (2 for usage and model errors, 130 when
interrupted).
"""

from __future__ import annotations

import argparse
import logging
import sys

from companion import __version__
from companion.commands import (check, doctor, evaluate, install_host, install_service, models, protect, serve, token,
                                watch)
from companion.engine.errors import ProtectError
from companion.engine.errors import MissingDependency

log = logging.getLogger("imageprotector")

COMMANDS = {"protect": protect, "check": check, "evaluate": evaluate, "models": models, "serve": serve, "token": token,
            "install-host": install_host, "doctor": doctor, "watch": watch, "install-service": install_service}

#: commands that load no model: they must not pay for importing transformers (or torch)
LIGHT = {"token", "install-host", "install-service", "watch"}


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (and where to read more), exit status 2, before any work."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imageprotector", description="Protect photos from analysis by multimodal LLMs.")
    parser.add_argument("--version", action="version", version=f"imageprotector {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # a server says what it does (listening, each request, stopping) without -v; other commands are quiet
    quiet = logging.INFO if args.command == "serve" else logging.WARNING
    level = [quiet, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2 and args.command not in LIGHT:
        _quiet_libraries()
    try:
        return COMMANDS[args.command].run(args)
    except ProtectError as exc:
        print(f"imageprotector: error: {exc}", file=sys.stderr)
        return 2
    except MissingDependency as exc:
        print(f"imageprotector: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imageprotector: interrupted", file=sys.stderr)
        return 130


def _quiet_libraries() -> None:
    logging.getLogger("waitress").setLevel(logging.WARNING)  # its "Serving on" repeats our own line
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
