"""What the watcher knows, in a small SQLite database (WAL) in the platform's data folder.

One row per file seen: its path, size, mtime and content hash, its state and its output.
The state survives a crash or a reboot: a restart catches up on what changed while the
watcher was down, and a photo already protected (same content, under any name) is not
protected again; its output is reused.

States: `pending` (to do, maybe after `next_try`), `writing` (protected; the output is being
put in place; `out_sha256` says which bytes), `done`, `failed` (given up; `error` says why),
`skipped` (not a photo).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    state TEXT NOT NULL,
    output TEXT,
    out_sha256 TEXT,
    receipt TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    error TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha ON files (sha256, state);
"""


def default_path() -> Path:
    """`$IMAGEPROTECTOR_DATA_DIR/watcher.sqlite3`, else in the platform's user data folder."""
    override = os.environ.get("IMAGEPROTECTOR_DATA_DIR")
    if override:
        return Path(override) / "watcher.sqlite3"
    from platformdirs import user_data_dir

    return Path(user_data_dir("imageprotector", appauthor=False)) / "watcher.sqlite3"


@dataclass
class Row:
    path: str
    folder: str
    size: int
    mtime_ns: int
    sha256: str | None
    state: str
    output: str | None
    out_sha256: str | None
    receipt: dict | None
    attempts: int
    next_try: float
    error: str | None
    updated: float


class State:
    """The database; every method is one transaction, safe from any thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a 'done' survives a power cut, not only a crash
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[Row]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Row(*r[:8], json.loads(r[8]) if r[8] else None, *r[9:]) for r in rows]

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def get(self, path: str) -> Row | None:
        rows = self._rows("SELECT * FROM files WHERE path = ?", (path,))
        return rows[0] if rows else None

    def put(self, path: str, folder: str, size: int, mtime_ns: int, state: str, *, sha256: str | None = None,
            output: str | None = None, out_sha256: str | None = None, receipt: dict | None = None,
            attempts: int = 0, next_try: float = 0.0, error: str | None = None) -> None:
        self._write(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (path, folder, size, mtime_ns, sha256, state, output, out_sha256,
             json.dumps(receipt) if receipt is not None else None, attempts, next_try, error, time.time()),
        )

    def forget(self, path: str) -> None:
        self._write("DELETE FROM files WHERE path = ?", (path,))

    def done_with(self, sha256: str) -> list[Row]:
        """Finished rows for this content: its output may be reused for a copy."""
        return self._rows("SELECT * FROM files WHERE sha256 = ? AND state = 'done'", (sha256,))

    def in_state(self, state: str) -> list[Row]:
        return self._rows("SELECT * FROM files WHERE state = ?", (state,))

    def outputs(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT output FROM files WHERE output IS NOT NULL")}

    def summary(self, errors: int = 5) -> dict:
        """Counts by folder and state, and the last errors (what `watch --status` prints)."""
        with self._lock:
            counts = self._db.execute("SELECT folder, state, COUNT(*) FROM files GROUP BY folder, state").fetchall()
            last = self._db.execute("SELECT path, error, updated FROM files WHERE error IS NOT NULL "
                                    "ORDER BY updated DESC LIMIT ?", (errors,)).fetchall()
        folders: dict[str, dict[str, int]] = {}
        for folder, state, count in counts:
            folders.setdefault(folder, {})[state] = count
        return {"folders": folders, "errors": [{"path": p, "error": e, "at": t} for p, e, t in last]}
