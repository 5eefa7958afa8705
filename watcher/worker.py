"""The worker: takes each finished photo in the watched folders and protects it, once.

Event handlers only note paths (handler.py); this thread does everything else, outside any
watchdog lock. A path is taken when its size and mtime have not changed for `settle`
seconds (so a file still being copied, or renamed to its final name a moment ago, waits),
its content is hashed, and then:

- content already protected (the same file renamed or copied): its output is reused;
- otherwise it is protected, and the output written atomically as `writing`, then `done`
  (state.py), so a crash at any point loses nothing and does nothing twice;
- a file that changed while it was being protected is taken again, its result dropped.

A failure is retried with exponential backoff up to `max_attempts`, then reported; a file
the companion cannot read is reported at once. While the companion is unreachable, tries
do not count.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from companion.client import Result
from watcher.folders import Folder
from watcher.names import is_photo, is_temporary, mime_of, output_name
from watcher.output import remove_leftovers, write_atomically
from watcher.state import Row, State

log = logging.getLogger(__name__)

#: `protect(data, name, mime, site)` -> the protected file; raises ProtectFailed
Protector = Callable[[bytes, str, str, "str | None"], Result]
#: codes after which a photo is not tried again
FINAL_CODES = {"bad_image", "too_large", "bad_option", "not_an_image", "corrupt", "empty", "unsupported_format"}
#: codes that say the companion is not there: the photo waits, its tries do not count
WAITING_CODES = {"companion_unreachable", "busy", "model_unavailable"}


class ProtectFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Worker:
    def __init__(self, folders: list[Folder], protect: Protector, state: State, settle: float = 1.0,
                 rescan: float = 60.0, max_attempts: int = 3, backoff: float = 10.0) -> None:
        self.folders = folders
        self.protect = protect
        self.state = state
        self.settle = settle
        self.rescan = rescan
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._dirty: set[str] = set()
        self._watching: dict[str, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, since): not yet stable
        self._retry: dict[str, float] = {}  # path -> when (time.time()) to try again
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._gone: set[str] = set()  # folders reported missing (once each)
        self._outputs = state.outputs()  # what the watcher wrote: never taken again

    # -- from other threads ----------------------------------------------------------------
    def note(self, path: str) -> None:
        """A path may have changed (the event handlers' only call)."""
        with self._lock:
            self._dirty.add(path)
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        self.catch_up()
        last_scan = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(timeout=min(0.5, self.settle / 2) if self._watching or self._retry else 5.0)
            self._wake.clear()
            if time.monotonic() - last_scan > self.rescan:  # events can be lost (a full inotify queue)
                self.scan_all()
                last_scan = time.monotonic()
            with self._lock:
                paths, self._dirty = self._dirty, set()
            now = time.time()
            paths |= set(self._watching) | {p for p, when in self._retry.items() if when <= now}
            for path in sorted(paths):
                if self._stopping.is_set():
                    break
                try:
                    self.consider(Path(path))
                except Exception:  # noqa: BLE001 - one file never stops the watcher
                    log.exception("could not handle %s", path)

    def catch_up(self) -> None:
        """At start: remove what a killed run left half-written, settle its `writing` rows,
        re-arm its retries, and look at every file (photos added while it was down)."""
        for folder in self.folders:
            for leftover in remove_leftovers(folder.out_dir):
                log.info("removed %s, left half-written by an earlier run", leftover)
        for row in self.state.in_state("writing"):
            out = Path(row.output)
            if out.is_file() and sha256(out.read_bytes()) == row.out_sha256:
                self._put(row, "done")
            else:
                self._put(row, "pending")
                self._retry[row.path] = 0
        for row in self.state.in_state("pending"):
            self._retry[row.path] = row.next_try
        self.scan_all()

    def scan_all(self) -> None:
        for folder in self.folders:
            self.scan(folder.path, folder)

    def scan(self, directory: Path, folder: Folder) -> None:
        """Note every file in `directory` (and below, for a recursive folder). Symlinks are
        not followed, so a link loop cannot trap the scan."""
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            if str(directory) not in self._gone:
                self._gone.add(str(directory))
                log.warning("%s is gone; its photos wait until it is back", directory)
            return
        except OSError as exc:
            log.warning("cannot read the folder %s: %s", directory, exc)
            return
        self._gone.discard(str(directory))
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if folder.recursive and folder.owns(path / "x"):
                    self.scan(path, folder)
            elif not is_temporary(entry.name):
                self.note(entry.path)

    def owner(self, path: Path) -> Folder | None:
        return next((f for f in self.folders if f.owns(path)), None)

    # -- one path -----------------------------------------------------------------------------
    def consider(self, path: Path) -> None:
        folder = self.owner(path)
        key = str(path)
        if folder is None or is_temporary(path.name) or key in self._outputs:
            return
        try:
            info = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:  # removed (or renamed away) before it was taken
            self._watching.pop(key, None)
            self._retry.pop(key, None)
            row = self.state.get(key)
            if row is not None and row.state != "done":
                self.state.forget(key)
            return
        if stat.S_ISDIR(info.st_mode):
            if folder.recursive:
                self.scan(path, folder)
            return
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            return  # links, pipes, sockets: never taken
        row = self.state.get(key)
        size_mtime = (info.st_size, info.st_mtime_ns)
        if row is not None and (row.size, row.mtime_ns) == size_mtime and row.state in ("done", "failed", "skipped"):
            self._watching.pop(key, None)
            return
        if not is_photo(path.name):
            if row is None:
                log.info("skipped %s: not a photo", path)
                self.state.put(key, str(folder.path), *size_mtime, "skipped")
            return
        if row is not None and row.state == "pending" and row.next_try > time.time():
            self._retry[key] = row.next_try
            return
        seen = self._watching.get(key)
        now = time.monotonic()
        if seen is None or seen[:2] != size_mtime:
            self._watching[key] = (*size_mtime, now)  # changed (or new): wait until it settles
            return
        if now - seen[2] < self.settle:
            return
        del self._watching[key]
        self._retry.pop(key, None)
        self.take(folder, path, size_mtime, row)

    def take(self, folder: Folder, path: Path, size_mtime: tuple[int, int], row: Row | None) -> None:
        key = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._failed(folder, path, size_mtime, None, row, ProtectFailed("unreadable", f"cannot read it: {exc}"))
            return
        digest = sha256(data)
        if row is not None and row.state == "done" and row.sha256 == digest:  # touched, not changed
            self.state.put(key, str(folder.path), *size_mtime, "done", sha256=digest, output=row.output,
                           out_sha256=row.out_sha256, receipt=row.receipt)
            return
        if self._reuse(folder, path, size_mtime, digest):
            return
        try:
            result = self.protect(data, path.name, mime_of(path.name), folder.site)
        except ProtectFailed as exc:
            self._failed(folder, path, size_mtime, digest, row, exc)
            return
        try:
            now = os.stat(path, follow_symlinks=False)
            changed = (now.st_size, now.st_mtime_ns) != size_mtime
        except FileNotFoundError:
            changed = True
        if changed:
            log.info("%s changed while it was being protected; taking it again", path)
            self.note(key)
            return
        self._write(folder, path, size_mtime, digest, result.data, output_name(path.name, result.name), result.receipt)

    def _reuse(self, folder: Folder, path: Path, size_mtime, digest: str) -> bool:
        """Content already protected under another name: copy its output instead."""
        for done in self.state.done_with(digest):
            source = Path(done.output)
            try:
                data = source.read_bytes()
            except OSError:
                continue
            if sha256(data) != done.out_sha256:
                continue  # the user edited that output: do not spread it
            self._write(folder, path, size_mtime, digest, data, output_name(path.name, source.name), done.receipt,
                        reused=done.path)
            return True
        return False

    def _write(self, folder: Folder, path: Path, size_mtime, digest: str, data: bytes, name: str,
               receipt: dict | None, reused: str | None = None) -> None:
        out = folder.out_dir / path.relative_to(folder.path).parent / name
        self._outputs.add(str(out))
        common = dict(sha256=digest, output=str(out), out_sha256=sha256(data), receipt=receipt)
        self.state.put(str(path), str(folder.path), *size_mtime, "writing", **common)
        write_atomically(out, data)
        if reused:  # logged before 'done': a crash between the two leaves a `writing` row, settled at start
            log.info("%s -> %s (same photo as %s, its protection reused)", path, out, reused)
        else:
            log.info("%s -> %s (%s)", path, out, _describe(receipt))
        self.state.put(str(path), str(folder.path), *size_mtime, "done", **common)

    def _failed(self, folder: Folder, path: Path, size_mtime, digest, row: Row | None, error: ProtectFailed) -> None:
        key = str(path)
        waiting = error.code in WAITING_CODES
        attempts = (row.attempts if row is not None and row.state == "pending" else 0) + (0 if waiting else 1)
        if error.code in FINAL_CODES or attempts >= self.max_attempts:
            self.state.put(key, str(folder.path), *size_mtime, "failed", sha256=digest, attempts=attempts,
                           error=error.message)
            log.warning("gave up on %s: %s", path, error.message)
            return
        delay = min(300.0, self.backoff * 2 ** max(0, attempts - 1))
        when = time.time() + delay
        self.state.put(key, str(folder.path), *size_mtime, "pending", sha256=digest, attempts=attempts,
                       next_try=when, error=error.message)
        self._retry[key] = when
        log.warning("%s not protected yet (%s); trying again in %.0f s", path, error.message, delay)

    def _put(self, row: Row, state: str) -> None:
        self.state.put(row.path, row.folder, row.size, row.mtime_ns, state, sha256=row.sha256, output=row.output,
                       out_sha256=row.out_sha256, receipt=row.receipt, attempts=row.attempts)


def _describe(receipt: dict | None) -> str:
    if not receipt:
        return "protected"
    rates = [r for r in (receipt.get("refusal_rate"), receipt.get("site_refusal_rate")) if isinstance(r, (int, float))]
    psnr = receipt.get("psnr")
    return f"refused {min(rates):.2f}, PSNR {psnr:.1f} dB" if rates and psnr else "protected"
