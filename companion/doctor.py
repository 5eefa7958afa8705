"""`imageprotector doctor`: check the whole chain from browser to model, one line per check.

Browser manifest -> launcher -> host answers `ping` -> token -> companion health (or an
auto-start) -> model loaded -> device and the time of one attack step. Each failed check
says what to do. The checks run in order and later ones are skipped when an earlier one
they need failed (no companion: no model check).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from native_host.install import BROWSERS, HOST_NAME, manifest_folder


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text + (f"\n      -> {self.fix}" if not self.ok and self.fix else "")


def _platform() -> str:
    return sys.platform if sys.platform in ("darwin", "win32") else "linux"


def manifests(user_data_dir: Path | None = None) -> list[tuple[str, Path]]:
    """(browser, manifest path) of every installed host manifest this doctor can see."""
    found = []
    if user_data_dir is not None:
        path = user_data_dir / "NativeMessagingHosts" / f"{HOST_NAME}.json"
        return [("profile", path)] if path.is_file() else []
    if _platform() == "win32":
        import winreg

        from native_host.install import WINDOWS_KEYS

        for browser, key in WINDOWS_KEYS.items():
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, f"{key}\\{HOST_NAME}") as handle:
                    found.append((browser, Path(winreg.QueryValueEx(handle, "")[0])))
            except OSError:
                continue
        return found
    for browser in BROWSERS:
        for system in (False, True):
            try:
                path = manifest_folder(browser, _platform(), system) / f"{HOST_NAME}.json"
            except Exception:  # noqa: BLE001 - no system folder for this browser
                continue
            if path.is_file():
                found.append((browser if not system else f"{browser} (system)", path))
    return found


def check_manifests(user_data_dir: Path | None) -> tuple[list[Check], Path | None, str | None]:
    """A check per manifest found; the launcher and an allowed caller to ping it with."""
    found = manifests(user_data_dir)
    if not found:
        return [Check("browser manifests", False, "no browser has the native host registered",
                      "run `imageprotector install-host` (then restart the browser)")], None, None
    checks, launcher, caller = [], None, None
    for browser, path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            checks.append(Check(f"manifest ({browser})", False, f"{path} is unreadable ({exc})",
                                "run `imageprotector install-host` again"))
            continue
        allowed = data.get("allowed_origins") or data.get("allowed_extensions") or []
        target = Path(data.get("path", ""))
        problems = []
        if data.get("name") != HOST_NAME:
            problems.append(f"its name is {data.get('name')!r}")
        if not allowed:
            problems.append("it allows no extension")
        if not target.is_file():
            problems.append(f"its launcher {target} is missing")
        elif os.name != "nt" and not os.access(target, os.X_OK):
            problems.append(f"its launcher {target} is not executable")
        if problems:
            checks.append(Check(f"manifest ({browser})", False, f"{path}: {'; '.join(problems)}",
                                "run `imageprotector install-host` again"))
            continue
        checks.append(Check(f"manifest ({browser})", True, f"{path} allows {', '.join(allowed)}"))
        launcher, caller = launcher or target, caller or allowed[0]
    return checks, launcher, caller


def check_launcher(launcher: Path, caller: str) -> Check:
    """Start the launcher as a browser would and ask it `ping`."""
    from native_host.framing import HEADER, encode_frame, read_frame

    try:
        proc = subprocess.run([str(launcher), caller], input=encode_frame({"type": "ping", "id": "doctor"}),
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("host answers ping", False, f"{launcher} did not run ({exc})",
                     "run `imageprotector install-host` again; see the host log")
    try:
        reply = read_frame(io.BytesIO(proc.stdout)) if len(proc.stdout) >= HEADER.size else None
    except Exception:  # noqa: BLE001
        reply = None
    if not reply or reply.get("type") != "pong":
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return Check("host answers ping", False, f"no pong (exit {proc.returncode}; {tail[0]})",
                     "see the host log (imageprotector doctor --json shows its folder)")
    return Check("host answers ping", True, f"version {reply.get('version')}")


def check_companion() -> list[Check]:
    """Token, health (auto-starting where allowed), model, device and one step's time."""
    from companion.client import Companion, CompanionError
    from companion.server.auth import get_token
    from companion.server.config import load_config
    from native_host.autostart import ensure_companion

    checks = []
    try:
        config = load_config()
    except Exception as exc:  # noqa: BLE001
        return [Check("config", False, str(exc), "fix or remove the config file")]
    try:
        ensure_companion(config)
    except CompanionError as exc:
        return [Check("companion", False, exc.message,
                      "start it with `imageprotector serve`, or set \"autostart\": true in the config")]
    token = get_token(create=False)
    checks.append(Check("token", bool(token), "readable" if token else "missing",
                        "restart the companion: it creates the token on first start"))
    client = Companion(config.port)
    try:
        health = client.health()
        client.verify()
    except CompanionError as exc:
        return checks + [Check("companion", False, exc.message, "run `imageprotector serve` and see its log")]
    checks.append(Check("companion", True, f"version {health.get('version')} on port {config.port}"))
    if health.get("status") != "ok":
        error = health.get("error") or {}
        return checks + [Check("model", False, error.get("message", "not loaded"),
                               "check the model name (`imageprotector models`) and the device's memory")]
    checks.append(Check("model", True, f"{', '.join(health.get('models', []))} on {health.get('device')}"))
    photo = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 140, 160)).save(photo, "PNG")
    start = time.monotonic()
    try:
        client.protect(photo.getvalue(), "doctor.png", "image/png", steps=1, deadline=120)
    except CompanionError as exc:
        return checks + [Check("one attack step", False, exc.message, "see the companion's log")]
    checks.append(Check("one attack step", True, f"{time.monotonic() - start:.2f} s for a 64x48 photo, "
                        f"including the receipt, on {health.get('device')}"))
    return checks


def run_checks(user_data_dir: Path | None = None) -> list[Check]:
    checks, launcher, caller = check_manifests(user_data_dir)
    if launcher is not None:
        checks.append(check_launcher(launcher, caller))
    return checks + check_companion()


def to_json(checks: list[Check]) -> str:
    from native_host.logs import log_dir

    return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks],
                       "log_dir": str(log_dir())}, indent=2)

