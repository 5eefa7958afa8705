"""Run by test_worker.py: a watcher on FOLDER with the recording stand-in; prints what
became of each file as JSON. Started as root (CI runs as root, and root reads any file),
it gives up root once everything is imported, so the unreadable file is unreadable."""

import io
import json
import os
import sys
import time
from pathlib import Path

from PIL import Image, PngImagePlugin  # noqa: F401 - imported while the interpreter's own files can be read
from watchdog.observers import Observer

from tests.watcher.conftest import Recorder, wait_until
from watcher.folders import Folder
from watcher.service import Watcher
from watcher.state import State

folder, data = Path(sys.argv[1]), Path(sys.argv[2])
Image.new("RGB", (2, 2)).save(io.BytesIO(), "PNG")  # every codec path loaded now
Observer().stop()
if os.geteuid() == 0:
    os.setegid(65534)
    os.seteuid(65534)  # nobody
recorder = Recorder()
state = State(data / "watcher.sqlite3")
watcher = Watcher([Folder.make(folder)], recorder, state, settle=0.2, backoff=0.1, max_attempts=2).start()
try:
    wait_until(lambda: len(state.in_state("done")) == 1 and len(state.in_state("failed")) == 1, 30)
    time.sleep(0.3)
finally:
    watcher.stop()
print(json.dumps({"done": [r.path for r in state.in_state("done")],
                  "failed": [(r.path, r.error) for r in state.in_state("failed")],
                  "calls": [n for n, _ in recorder.calls]}))
state.close()
