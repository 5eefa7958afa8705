"""Install the native messaging host for each browser: its manifest, a launcher, and (on
Windows) the registry key that points at the manifest.

Browsers started from a desktop have a minimal PATH, so the manifest never names
`python`: it names a launcher written next to it that runs this installation's own
interpreter by absolute path. Chromium browsers read `allowed_origins`, Firefox
`allowed_extensions`. The callers are also written to `native-host.json` in the config
folder, which the host checks on every start (main.py).

Locations are the browsers' documented ones (the tables below): per user on Linux under
the home folder, on macOS under ~/Library/Application Support, and on Windows a key under
HKCU\\Software\\<browser>\\NativeMessagingHosts\\<host name> whose default value is the
manifest's path. `--system` only where a system-wide folder is documented.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from companion.engine.errors import ProtectError
from native_host.origins import CHROMIUM_ID, FIREFOX_ID

log = logging.getLogger(__name__)

HOST_NAME = "org.imageprotector.native_host"  # lowercase, dots and underscores, as browsers require
BROWSERS = ("chrome", "chromium", "edge", "brave", "vivaldi", "firefox")

_LINUX_USER = {
    "chrome": ".config/google-chrome/NativeMessagingHosts",
    "chromium": ".config/chromium/NativeMessagingHosts",
    "edge": ".config/microsoft-edge/NativeMessagingHosts",
    "brave": ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": ".config/vivaldi/NativeMessagingHosts",
    "firefox": ".mozilla/native-messaging-hosts",
}
_LINUX_SYSTEM = {
    "chrome": "/etc/opt/chrome/native-messaging-hosts",
    "chromium": "/etc/chromium/native-messaging-hosts",
    "edge": "/etc/opt/edge/native-messaging-hosts",
    "firefox": "/usr/lib/mozilla/native-messaging-hosts",
}
_MAC_USER = {
    "chrome": "Library/Application Support/Google/Chrome/NativeMessagingHosts",
    "chromium": "Library/Application Support/Chromium/NativeMessagingHosts",
    "edge": "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
    "brave": "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": "Library/Application Support/Vivaldi/NativeMessagingHosts",
    "firefox": "Library/Application Support/Mozilla/NativeMessagingHosts",
}
_MAC_SYSTEM = {
    "chrome": "/Library/Google/Chrome/NativeMessagingHosts",
    "chromium": "/Library/Application Support/Chromium/NativeMessagingHosts",
    "edge": "/Library/Microsoft/Edge/NativeMessagingHosts",
    "firefox": "/Library/Application Support/Mozilla/NativeMessagingHosts",
}
WINDOWS_KEYS = {
    "chrome": r"Software\Google\Chrome\NativeMessagingHosts",
    "chromium": r"Software\Chromium\NativeMessagingHosts",
    "edge": r"Software\Microsoft\Edge\NativeMessagingHosts",
    "brave": r"Software\BraveSoftware\Brave-Browser\NativeMessagingHosts",
    "vivaldi": r"Software\Vivaldi\NativeMessagingHosts",
    "firefox": r"Software\Mozilla\NativeMessagingHosts",
}


@dataclass
class Plan:
    """What an install writes: files (path -> content, with the mode) and registry keys."""

    files: dict[Path, tuple[str, int]]
    keys: dict[str, str]  # HKCU (or HKLM) subkey -> the manifest path it points at
    hive: str = "HKCU"
    shared: frozenset[Path] = frozenset()  # the launcher and the callers file, used by every browser

    def describe(self) -> list[str]:
        lines = [f"file {path}" for path in self.files]
        return lines + [f"registry {self.hive}\\{key}\\{HOST_NAME} = {value}" for key, value in self.keys.items()]


def manifest_folder(browser: str, platform: str, system: bool = False, home: Path | None = None) -> Path:
    """Where `browser` looks for host manifests on `platform` (linux, darwin)."""
    home = home or Path.home()
    if platform == "darwin":
        table, user = _MAC_SYSTEM, _MAC_USER
    else:
        table, user = _LINUX_SYSTEM, _LINUX_USER
    if system:
        if browser not in table:
            raise ProtectError("usage", f"{browser} documents no system-wide folder for native hosts on {platform}; "
                               "install per user (without --system)")
        return Path(table[browser])
    return home / user[browser]


def manifest(browser: str, launcher: Path, callers: list[str]) -> dict:
    """The host manifest for `browser`, naming `launcher` and allowing `callers`."""
    data = {"name": HOST_NAME, "description": "ImageProtector: protects photos before they are uploaded",
            "path": str(launcher), "type": "stdio"}
    if browser == "firefox":
        data["allowed_extensions"] = [c for c in callers if not c.startswith("chrome-extension://")]
    else:
        data["allowed_origins"] = [c for c in callers if c.startswith("chrome-extension://")]
    return data


def launcher_text(platform: str, python: str = sys.executable) -> tuple[str, str]:
    """(file name, content) of the launcher that runs the host with this interpreter."""
    if platform == "win32":
        return "imageprotector-native-host.bat", f'@echo off\r\n"{python}" -m native_host.main %*\r\n'
    return "imageprotector-native-host", f'#!/bin/sh\nexec "{python}" -m native_host.main "$@"\n'


def callers_for(extension_ids: list[str] | None) -> list[str]:
    """Allowed callers: our own extension's ids by default, else the ids given (a Chromium id
    of 32 letters a-p becomes its origin; anything else is a Firefox id)."""
    if not extension_ids:
        return [f"chrome-extension://{CHROMIUM_ID}/", FIREFOX_ID]
    out = []
    for ext in extension_ids:
        if len(ext) == 32 and set(ext) <= set("abcdefghijklmnop"):
            out.append(f"chrome-extension://{ext}/")
        elif ext.startswith("chrome-extension://"):
            out.append(ext.rstrip("/") + "/")
        else:
            out.append(ext)
    return out


def plan(browsers: list[str], platform: str, callers: list[str], system: bool = False,
         user_data_dir: Path | None = None, home: Path | None = None, data_dir: Path | None = None) -> Plan:
    """Everything an install writes, computed without touching anything."""
    from companion.server.config import config_dir

    home = home or Path.home()
    data_dir = data_dir or config_dir()
    name, text = launcher_text(platform)
    launcher = data_dir / name
    files: dict[Path, tuple[str, int]] = {launcher: (text, 0o755)}
    keys: dict[str, str] = {}
    files[data_dir / "native-host.json"] = (json.dumps({"allowed": callers}, indent=2) + "\n", 0o644)
    for browser in browsers:
        body = json.dumps(manifest(browser, launcher, callers), indent=2) + "\n"
        if user_data_dir is not None:  # one browser profile folder (what the browser tests use)
            files[user_data_dir / "NativeMessagingHosts" / f"{HOST_NAME}.json"] = (body, 0o644)
        elif platform == "win32":
            path = data_dir / f"{HOST_NAME}.{browser}.json"
            files[path] = (body, 0o644)
            keys[WINDOWS_KEYS[browser]] = str(path)
        else:
            files[manifest_folder(browser, platform, system, home) / f"{HOST_NAME}.json"] = (body, 0o644)
    return Plan(files, keys, "HKLM" if system else "HKCU", frozenset({launcher, data_dir / "native-host.json"}))


def apply(install: Plan) -> None:
    """Write the plan's files (atomically) and registry keys."""
    for path, (text, mode) in install.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8", newline="")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        log.info("wrote %s", path)
    if install.keys:
        import winreg

        hive = winreg.HKEY_LOCAL_MACHINE if install.hive == "HKLM" else winreg.HKEY_CURRENT_USER
        for key, value in install.keys.items():
            with winreg.CreateKey(hive, f"{key}\\{HOST_NAME}") as handle:
                winreg.SetValueEx(handle, "", 0, winreg.REG_SZ, value)


def remove(install: Plan, others: Plan | None = None) -> list[str]:
    """Undo `apply`: remove the plan's files and keys; what was removed. The shared files stay
    while a manifest of `others` (an install for more browsers) is still there."""
    keep: frozenset[Path] = frozenset()
    if others is not None and any(p.exists() for p in set(others.files) - set(install.files) - others.shared):
        keep = install.shared
    removed = []
    for path in install.files:
        if path.exists() and path not in keep:
            path.unlink()
            removed.append(str(path))
    if install.keys:
        import winreg

        hive = winreg.HKEY_LOCAL_MACHINE if install.hive == "HKLM" else winreg.HKEY_CURRENT_USER
        for key in install.keys:
            try:
                winreg.DeleteKey(hive, f"{key}\\{HOST_NAME}")
                removed.append(f"{install.hive}\\{key}\\{HOST_NAME}")
            except FileNotFoundError:
                pass
    return removed
