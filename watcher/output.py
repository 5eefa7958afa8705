"""Putting a protected photo in place atomically: a hidden temporary name in the same
folder, fsync, rename, fsync of the folder. A reader sees the old file or the whole new
one, never half of one; a crash leaves at most a hidden temporary file, which the next
start removes."""

from __future__ import annotations

import os
from pathlib import Path

from watcher.names import OWN_TEMP_PREFIX


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f"{OWN_TEMP_PREFIX}{os.getpid()}-{path.name}"
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_leftovers(folder: Path) -> list[Path]:
    """The temporary files an earlier run left when it was killed mid-write (removed)."""
    removed = []
    if folder.is_dir():
        for path in folder.glob(f"{OWN_TEMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
