"""`imageprotector install-host`: register the native messaging host with the browsers.

Writes each browser's host manifest (and, on Windows, its registry key), a launcher that
runs the host with this installation's interpreter, and the list of extensions the host
serves. `--dry-run` prints all of it and writes nothing; `--uninstall` removes exactly it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from native_host.install import BROWSERS


def add_parser(sub) -> None:
    p = sub.add_parser("install-host", help="register the native messaging host with your browsers")
    p.add_argument("--browser", action="append", choices=[*BROWSERS, "all"],
                   help="browser to register with (repeatable; default: all)")
    p.add_argument("--extension-id", action="append", metavar="ID",
                   help="extension allowed to call the host (repeatable; default: ImageProtector's own, "
                        "Chromium and Firefox)")
    p.add_argument("--user-data-dir", type=Path, default=None,
                   help="write the manifest into this one browser profile folder (<dir>/NativeMessagingHosts/)")
    p.add_argument("--system", action="store_true", help="for all users (needs administrator rights)")
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    p.add_argument("--uninstall", action="store_true", help="remove what an install with these options wrote")


def run(args: argparse.Namespace) -> int:
    from native_host.install import apply, callers_for, plan, remove

    browsers = list(BROWSERS) if not args.browser or "all" in args.browser else list(dict.fromkeys(args.browser))
    if args.user_data_dir is not None and len(browsers) != 1:
        browsers = ["chromium"] if not args.browser else browsers[:1]
    platform = sys.platform if sys.platform in ("darwin", "win32") else "linux"
    install_callers = callers_for(args.extension_id)
    install = plan(browsers, platform, install_callers, args.system, args.user_data_dir)
    if args.dry_run:
        verb = "would remove" if args.uninstall else "would write"
        for line in install.describe():
            print(f"{verb} {line}")
        return 0
    if args.uninstall:
        everyone = plan(list(BROWSERS), platform, install_callers, args.system)
        removed = remove(install, everyone)  # the launcher stays while another browser uses it
        for line in removed:
            print(f"removed {line}")
        if not removed:
            print("nothing to remove")
        return 0
    apply(install)
    for line in install.describe():
        print(f"wrote {line}")
    print("done: restart the browser, then check with `imageprotector doctor`")
    return 0
