"""The companion (with its watched folders) as a user service that starts at login: a
systemd user unit on Linux, a launchd agent on macOS, a Task Scheduler entry on Windows.

`plan()` computes every file and command without touching anything (what `--dry-run`
prints and the tests check); `apply()` and `remove()` carry a plan out.
"""

from __future__ import annotations

import logging
import os
import plistlib
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

log = logging.getLogger(__name__)

UNIT = "imageprotector.service"
AGENT = "org.imageprotector.companion"
TASK = "ImageProtector Companion"


@dataclass
class ServicePlan:
    command: list[str]  # what runs at login
    files: dict[Path, str] = field(default_factory=dict)
    start: list[list[str]] = field(default_factory=list)  # run after the files are written
    stop: list[list[str]] = field(default_factory=list)  # run before the files are removed
    after_remove: list[list[str]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # made before the start (launchd does not make its log folder)

    def describe(self, uninstall: bool = False) -> list[str]:
        if uninstall:
            return ([f"run {_shell(c)}" for c in self.stop] + [f"remove {p}" for p in self.files]
                    + [f"run {_shell(c)}" for c in self.after_remove])
        return ([f"write {p}" for p in self.files] + [f"run {_shell(c)}" for c in self.start]
                + [f"start at login: {_shell(self.command)}"])


def serve_command(python: str, folders: Sequence[str]) -> list[str]:
    command = [python, "-m", "companion.cli", "serve"]
    for folder in folders:
        command += ["--watch", folder]
    return command


def plan(platform: str, folders: Sequence[str] = (), python: str = sys.executable, home: Path | None = None,
         uid: int | None = None) -> ServicePlan:
    """What installing the service writes and runs on `platform` (linux, darwin, win32)."""
    home = home or Path.home()
    if platform == "win32":
        windows = PureWindowsPath(python)
        pythonw = str(windows.with_name("pythonw.exe")) if windows.name.lower() == "python.exe" else python
        command = serve_command(pythonw, folders)
        return ServicePlan(
            command,
            start=[["schtasks", "/Create", "/F", "/TN", TASK, "/SC", "ONLOGON", "/RL", "LIMITED", "/TR",
                    subprocess.list2cmdline(command)],
                   ["schtasks", "/Run", "/TN", TASK]],
            stop=[["schtasks", "/End", "/TN", TASK], ["schtasks", "/Delete", "/F", "/TN", TASK]],
        )
    if platform == "darwin":
        path = home / "Library" / "LaunchAgents" / f"{AGENT}.plist"
        logs = home / "Library" / "Logs" / "imageprotector"
        body = plistlib.dumps({
            "Label": AGENT, "ProgramArguments": serve_command(python, folders), "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background",
            "StandardErrorPath": str(logs / "companion.log"), "StandardOutPath": str(logs / "companion.log"),
        }).decode()
        domain = f"gui/{os.getuid() if uid is None else uid}"
        return ServicePlan(serve_command(python, folders), {path: body},
                           start=[["launchctl", "bootstrap", domain, str(path)]],
                           stop=[["launchctl", "bootout", f"{domain}/{AGENT}"]], folders=[logs])
    path = home / ".config" / "systemd" / "user" / UNIT
    body = "\n".join([
        "[Unit]",
        "Description=ImageProtector companion: protects photos before they are shared",
        "",
        "[Service]",
        f"ExecStart={' '.join(_systemd_quote(a) for a in serve_command(python, folders))}",
        "Restart=on-failure",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])
    return ServicePlan(serve_command(python, folders), {path: body},
                       start=[["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT]],
                       stop=[["systemctl", "--user", "disable", "--now", UNIT]],
                       after_remove=[["systemctl", "--user", "daemon-reload"]])


Runner = Callable[[list[str]], int]


def _run(command: list[str]) -> int:
    log.info("running %s", _shell(command))
    return subprocess.run(command, check=False).returncode


def apply(service: ServicePlan, run: Runner = _run) -> list[str]:
    """Write the files, run the start commands; the commands that failed."""
    for folder in service.folders:
        folder.mkdir(parents=True, exist_ok=True)
    for path, text in service.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return [_shell(c) for c in service.start if run(c) != 0]


def remove(service: ServicePlan, run: Runner = _run) -> list[str]:
    """Stop and unregister, remove the files; what was removed. A stop command that fails (the
    service was not running) does not stop the removal."""
    for command in service.stop:
        run(command)
    removed = []
    for path in service.files:
        if path.exists():
            path.unlink()
            removed.append(str(path))
    for command in service.after_remove:
        run(command)
    return removed


def _systemd_quote(arg: str) -> str:
    """One ExecStart argument: quoted when it holds a space or a quote, `%` and `\\` escaped."""
    arg = arg.replace("\\", "\\\\").replace("%", "%%")
    if any(c in arg for c in ' "\t\''):
        return '"' + arg.replace('"', '\\"') + '"'
    return arg


def _shell(command: list[str]) -> str:
    return subprocess.list2cmdline(command) if sys.platform == "win32" else shlex.join(command)
