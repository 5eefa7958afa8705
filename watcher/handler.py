"""The watchdog event handler: thin on purpose. It only notes which paths may have changed;
the worker (worker.py) decides and protects, outside any watchdog lock."""

from __future__ import annotations

from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler


class NoteChanges(FileSystemEventHandler):
    def __init__(self, note: Callable[[str], None]) -> None:
        self.note = note

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if event.event_type in ("moved", "created"):
                self.note(event.dest_path if event.event_type == "moved" else event.src_path)  # a folder moved in
            return
        if event.event_type in ("created", "modified", "closed", "moved"):
            self.note(event.dest_path if event.event_type == "moved" else event.src_path)
