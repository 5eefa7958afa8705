"""Start the companion when none answers: once, even when several hosts race, then wait for it.

A browser may start several hosts at once (one per tab that uploads). Each finds no
companion; only the one holding the start lock (a lock file in the config folder, held
with `fcntl.flock` or `msvcrt.locking`) starts one, and the others, once they get the lock,
find it answering. A companion started this way exits after `autostart_idle_exit` minutes
with nothing to do, so a model is not held in GPU memory for days.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from companion.client import Companion, CompanionError
from companion.server.config import ServerConfig, config_dir

log = logging.getLogger(__name__)

LOCK_FILE = "autostart.lock"
START_TIMEOUT = 180.0  # seconds a starting companion may take to answer (loading a 7B model included)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes on `path` (created if missing), blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if os.name == "nt":
            import msvcrt

            fh.seek(0)
            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after about 10 s: keep waiting
                    continue
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _answers(port: int) -> bool:
    try:
        Companion(port).health()
        return True
    except CompanionError as exc:
        if exc.code in ("companion_unreachable", "timeout"):
            return False
        raise


def start_command(config: ServerConfig) -> list[str]:
    """The command that starts a companion for the host: this interpreter, this port."""
    return [sys.executable, "-m", "companion.cli", "serve", "--port", str(config.port),
            "--idle-exit", f"{config.autostart_idle_exit:g}"]


def ensure_companion(config: ServerConfig, timeout: float = START_TIMEOUT) -> None:
    """Return once a companion answers on the configured port, starting one if allowed;
    CompanionError("companion_unreachable") when none answers and none could be started."""
    if _answers(config.port):
        return
    if not config.autostart:
        raise CompanionError("companion_unreachable", f"no companion answers on port {config.port} and autostart "
                             "is off: start it with `imageprotector serve`")
    with file_lock(config_dir() / LOCK_FILE):
        if _answers(config.port):  # another host started it while we waited for the lock
            return
        command = start_command(config)
        log.info("no companion on port %d: starting one (%s)", config.port, " ".join(command))
        flags = {}
        if os.name == "nt":
            flags["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            flags["start_new_session"] = True  # not killed with the browser's host
        from native_host.logs import log_dir

        log_dir().mkdir(parents=True, exist_ok=True)
        with open(log_dir() / "companion.log", "ab") as server_log:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=server_log, close_fds=True, **flags)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(config.port):
                log.info("the companion (pid %d) answers", proc.pid)
                return
            if proc.poll() is not None:
                raise CompanionError("companion_unreachable", f"the companion exited at start (status "
                                     f"{proc.returncode}); run `imageprotector doctor`")
            time.sleep(0.25)
        raise CompanionError("companion_unreachable", f"the companion started but did not answer in {timeout:.0f} s")
