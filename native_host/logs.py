"""Where the host logs: stderr (the browser keeps it) and a rotating file in the platform's
log folder. Never stdout, which carries frames only."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

APP_NAME = "imageprotector"


def log_dir() -> Path:
    """`IMAGEPROTECTOR_LOG_DIR`, else the platform's user log folder."""
    override = os.environ.get("IMAGEPROTECTOR_LOG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_log_dir

    return Path(user_log_dir(APP_NAME, appauthor=False))


def setup(verbose: bool = False) -> Path | None:
    """Log to stderr and to native-host.log (1 MiB, 3 kept); the file's path, or None where
    the folder cannot be written (logging to stderr alone)."""
    level = logging.DEBUG if verbose else logging.INFO
    fmt = logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    stderr = logging.StreamHandler()
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(folder / "native-host.log", maxBytes=2**20, backupCount=3,
                                                       encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log folder (%s); logging to stderr only", exc)
        return None
    handler.setFormatter(fmt)
    root.addHandler(handler)
    return folder / "native-host.log"
