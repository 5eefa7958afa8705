"""The watcher as one object: watchdog's observer noting changes, and the worker thread
protecting. `start()` then `stop()` (or a `with` block); both threads are joined on stop."""

from __future__ import annotations

import logging
import threading

from watchdog.observers import Observer

from watcher.folders import Folder
from watcher.handler import NoteChanges
from watcher.state import State
from watcher.worker import Protector, Worker

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, folders: list[Folder], protect: Protector, state: State, **options) -> None:
        self.folders = folders
        self.state = state
        self.worker = Worker(folders, protect, state, **options)
        self._observer = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Watcher":
        observer = Observer()
        handler = NoteChanges(self.worker.note)
        for folder in self.folders:
            folder.out_dir.mkdir(parents=True, exist_ok=True)
            observer.schedule(handler, str(folder.path), recursive=folder.recursive)
            log.info("watching %s%s -> %s", folder.path, " (and below)" if folder.recursive else "", folder.out_dir)
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self.worker.run, name="imageprotector-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._thread is not None:
            self._thread.join()
        log.info("watcher stopped")

    def __enter__(self) -> "Watcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
