"""Starting the watcher from the command line or inside the server, and its status.

The folders come from the command line, else from the config file's `watch` list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from companion.client import Companion
from companion.engine.errors import ProtectError
from companion.server.config import ServerConfig
from watcher.folders import Folder
from watcher.protectors import CompanionProtector
from watcher.service import Watcher
from watcher.state import State, default_path

log = logging.getLogger(__name__)


def folders_from(config: ServerConfig, paths: list[str] | None, out_dir: str | None = None, recursive: bool = False,
                 site: str | None = None) -> list[Folder]:
    if paths:
        return [Folder.make(p, out_dir, recursive, site) for p in paths]
    made = []
    for entry in config.watch:
        if not isinstance(entry, dict) or "path" not in entry:
            raise ProtectError("config", f"each entry of 'watch' needs a 'path', got {entry!r}")
        unknown = set(entry) - {"path", "out_dir", "recursive", "site"}
        if unknown:
            raise ProtectError("config", f"unknown settings in 'watch': {', '.join(sorted(unknown))}")
        made.append(Folder.make(entry["path"], entry.get("out_dir"), bool(entry.get("recursive")), entry.get("site")))
    return made


def beside_server(folders: list[Folder], **options) -> Callable[[ServerConfig, str], Callable[[], None]]:
    """For `serve --watch`: the watcher in the server's process, a client of that server, so its
    photos join the one job queue."""

    def start(config: ServerConfig, token: str) -> Callable[[], None]:
        state = State(default_path())
        protector = CompanionProtector(lambda: Companion(config.port, token=token, timeout=60))
        watcher = Watcher(folders, protector, state, **options).start()

        def stop() -> None:
            watcher.stop()
            state.close()

        return stop

    return start


def as_client(config_loader: Callable[[], ServerConfig], folders: list[Folder], **options) -> tuple[Watcher, State]:
    """For `watch`: a client of the running companion, started when none runs (as the native
    host does, unless autostart is off)."""
    from native_host.autostart import ensure_companion

    def companion() -> Companion:
        config = config_loader()
        ensure_companion(config)
        return Companion(config.port, timeout=60)

    state = State(default_path())
    return Watcher(folders, CompanionProtector(companion), state, **options), state


def status_lines(state: State) -> list[str]:
    """What `watch --status` prints: each folder's counts by state, then the last errors."""
    summary = state.summary()
    lines = []
    if not summary["folders"]:
        lines.append("no photo seen yet")
    for folder, counts in sorted(summary["folders"].items()):
        parts = ", ".join(f"{counts[s]} {s}" for s in ("done", "pending", "writing", "failed", "skipped") if s in counts)
        lines.append(f"{folder}: {parts}")
    for error in summary["errors"]:
        lines.append(f"error {error['path']}: {error['error']}")
    return lines
