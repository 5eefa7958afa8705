"""`imageprotector-native-host`: what the browser starts, with the caller's origin.

Chromium browsers pass the calling extension's origin (`chrome-extension://<id>/`) as the
first argument (and, on Windows, `--parent-window=...`); Firefox passes the manifest's path
and the extension's id. The host serves only the extensions it was installed for
(`install-host` writes them to `native-host.json` in the config folder; without that file,
the project's own extension ids), and answers anyone else with one `origin` error.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from native_host.framing import FrameWriter

log = logging.getLogger("native_host")

ALLOWED_FILE = "native-host.json"


def caller(argv: list[str]) -> str:
    """The caller's identity from the browser's arguments: a chrome-extension:// origin, or a
    Firefox extension id."""
    args = [a for a in argv if not a.startswith("--parent-window")]
    if not args:
        return ""
    if args[0].startswith("chrome-extension://"):
        return args[0].rstrip("/") + "/"
    return args[1] if len(args) > 1 else args[0]  # Firefox: manifest path, then the extension id


def allowed_callers() -> set[str]:
    """Origins and Firefox ids this installation serves."""
    from companion.server.config import config_dir
    from native_host.origins import DEFAULT_CALLERS

    path = config_dir() / ALLOWED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(c) for c in data.get("allowed", [])}
    except FileNotFoundError:
        return set(DEFAULT_CALLERS)
    except (OSError, ValueError, AttributeError) as exc:
        log.error("cannot read %s (%s): serving the project's own extension only", path, exc)
        return set(DEFAULT_CALLERS)


def _binary_stdio() -> None:
    if os.name == "nt":  # no newline translation on the pipes
        import msvcrt

        msvcrt.setmode(sys.stdin.fileno(), os.O_BINARY)
        msvcrt.setmode(sys.stdout.fileno(), os.O_BINARY)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from native_host import logs

    logs.setup(verbose=bool(os.environ.get("IMAGEPROTECTOR_DEBUG")))
    _binary_stdio()
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the frames
    writer = FrameWriter(out)
    who = caller(argv)
    if who not in allowed_callers():
        log.warning("refused caller %r: not one this host was installed for", who)
        writer.send({"type": "error", "id": None, "code": "origin",
                     "message": f"{who or 'this caller'} is not allowed; run `imageprotector install-host "
                                "--extension-id ID` for it"})
        return 1
    from companion.client import Companion
    from companion.engine.errors import ProtectError
    from companion.server.config import load_config
    from native_host.autostart import ensure_companion
    from native_host.host import Host

    def companion() -> Companion:
        config = load_config()
        ensure_companion(config)
        return Companion(config.port)

    try:
        photo_timeout = load_config().photo_timeout or None
    except ProtectError:  # a broken config file: each request's companion() says what is wrong
        photo_timeout = None
    log.info("serving %s", who)
    Host(sys.stdin.buffer, writer, companion, photo_timeout).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
