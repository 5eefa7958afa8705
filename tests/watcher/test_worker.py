"""The watcher with a recording stand-in for the engine: each photo protected exactly once,
none taken half-written, nothing lost across restarts, hostile folders survived."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import threading
import time

from PIL import Image

from tests.watcher.conftest import Recorder, photo, wait_until


def outputs(folder) -> dict[str, bytes]:
    """The finished outputs: not the watcher's hidden temporary files, which come and go as it writes."""
    out = folder / "protected"
    return {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")} if out.is_dir() else {}


def write_slowly(path, data: bytes, pieces: int = 5, pause: float = 0.1) -> None:
    """As a slow copy or download does: the file grows in pieces."""
    step = -(-len(data) // pieces)
    with open(path, "wb") as f:
        for i in range(pieces):
            f.write(data[i * step:(i + 1) * step])
            f.flush()
            time.sleep(pause)


def test_a_burst_of_200_is_protected_once_each_and_none_half_written(tmp_path, watch):
    folder = tmp_path / "camera"
    folder.mkdir()
    recorder = Recorder()
    _, state = watch(folder, recorder)
    slow = [threading.Thread(target=write_slowly, args=(folder / f"slow{i}.png", photo(1000 + i, (160, 120))))
            for i in range(10)]
    for thread in slow:
        thread.start()
    for i in range(190):
        (folder / f"img{i:03d}.png").write_bytes(photo(i))
    for thread in slow:
        thread.join()
    wait_until(lambda: len(state.in_state("done")) == 200, 120, "200 photos done")
    assert recorder.half_written == []
    names = [f"img{i:03d}.png" for i in range(190)] + [f"slow{i}.png" for i in range(10)]
    assert all(recorder.count(n) == 1 for n in names)
    out = outputs(folder)
    assert sorted(out) == sorted(names)  # under the original's name
    for data in list(out.values())[:20]:
        Image.open(io.BytesIO(data)).load()  # decodes
    assert all(r.receipt["refusal_rate"] == 1.0 for r in state.in_state("done"))
    assert not [p for p in (folder / "protected").iterdir() if p.name.startswith(".")]  # no temporary left
    time.sleep(0.5)
    assert len(recorder.calls) == 200  # the outputs were not taken in turn


def test_photos_added_while_stopped_are_protected_at_start_and_done_ones_not_again(tmp_path, watch):
    folder = tmp_path / "sync"
    folder.mkdir()
    (folder / "a.png").write_bytes(photo(1))
    recorder = Recorder()
    _, state = watch(folder, recorder)
    wait_until(lambda: len(state.in_state("done")) == 1)
    watch.stop_all()
    (folder / "b.png").write_bytes(photo(2))
    (folder / "c.jpg").write_bytes(photo(3, fmt="JPEG"))
    _, state = watch(folder, recorder)
    wait_until(lambda: len(state.in_state("done")) == 3)
    assert recorder.count("a.png") == 1 and recorder.count("b.png") == 1 and recorder.count("c.jpg") == 1
    assert sorted(outputs(folder)) == ["a.png", "b.png", "c.png"]  # c: the format it is now in


def test_a_renamed_copy_is_not_protected_again_and_an_edited_photo_is(tmp_path, watch):
    folder = tmp_path / "to-post"
    folder.mkdir()
    (folder / "me.png").write_bytes(photo(7))
    recorder = Recorder()
    _, state = watch(folder, recorder)
    wait_until(lambda: len(state.in_state("done")) == 1)
    shutil.copy(folder / "me.png", folder / "me (copy).png")
    os.rename(folder / "me.png", folder / "renamed.png")
    wait_until(lambda: {"me (copy).png", "renamed.png"} <= set(outputs(folder)))
    assert len(recorder.calls) == 1  # the copy and the renamed file reuse the first result
    out = outputs(folder)
    assert out["me (copy).png"] == out["me.png"] == out["renamed.png"]
    (folder / "renamed.png").write_bytes(photo(8))  # edited: new content
    wait_until(lambda: len(recorder.calls) == 2, what="the edited photo protected")
    wait_until(lambda: outputs(folder)["renamed.png"] != out["renamed.png"])


def test_temporary_names_are_ignored_until_renamed_and_settled_and_non_photos_skipped(tmp_path, watch, caplog):
    caplog.set_level(logging.INFO, logger="watcher")
    folder = tmp_path / "downloads"
    folder.mkdir()
    recorder = Recorder()
    _, state = watch(folder, recorder)
    for name in ("a.png.part", "b.png.crdownload", "c.tmp", "~$d.png", ".e.png"):
        (folder / name).write_bytes(photo(9))
    (folder / "notes.txt").write_text("hello")
    time.sleep(1.0)
    assert recorder.calls == []
    os.rename(folder / "a.png.part", folder / "a.png")
    wait_until(lambda: len(state.in_state("done")) == 1)
    assert [n for n, _ in recorder.calls] == ["a.png"]
    assert [r.path for r in state.in_state("skipped")] == [str(folder / "notes.txt")]
    assert "skipped" in caplog.text and "not a photo" in caplog.text


def test_failures_are_retried_with_backoff_then_reported(tmp_path, watch):
    folder = tmp_path / "flaky"
    folder.mkdir()
    recorder = Recorder(fail={"once.png": ["failed"], "never.png": ["failed"] * 5, "junk.png": ["bad_image"]})
    (folder / "once.png").write_bytes(photo(1))
    (folder / "never.png").write_bytes(photo(2))
    (folder / "junk.png").write_bytes(photo(3))
    _, state = watch(folder, recorder, max_attempts=3)
    wait_until(lambda: len(state.in_state("done")) == 1 and len(state.in_state("failed")) == 2, 30)
    assert recorder.count("once.png") == 2  # failed once, then done
    assert recorder.count("never.png") == 3  # three tries, then reported
    assert recorder.count("junk.png") == 1  # the companion cannot read it: not tried again
    from watcher.run import status_lines

    lines = status_lines(state)
    assert any("1 done" in line and "2 failed" in line for line in lines), lines
    assert any(line.startswith("error ") and "never.png" in line for line in lines), lines


def test_hostile_folders_are_logged_and_nothing_else_is_lost(tmp_path, watch, caplog):
    caplog.set_level(logging.INFO, logger="watcher")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop
    (root / "link.png").symlink_to(root / "sub" / "real.png")
    (root / "sub" / "real.png").write_bytes(photo(1))

    def replace_while_protecting(name: str) -> None:
        if name == "swap.png" and not replaced.is_set():
            replaced.set()
            (root / "swap.png").write_bytes(photo(99))

    replaced = threading.Event()
    recorder = Recorder(delay=0.05, during=replace_while_protecting)
    (root / "swap.png").write_bytes(photo(2))
    _, state = watch(root, recorder, recursive=True)
    vanishing = root / "vanish.png"
    vanishing.write_bytes(photo(3))
    vanishing.unlink()  # removed right after its creation event
    doomed = root / "doomed"
    doomed.mkdir()
    (doomed / "x.png").write_bytes(photo(4))
    wait_until(lambda: recorder.count("x.png") == 1)
    shutil.rmtree(doomed)  # a folder deleted while watched
    (root / "after.png").write_bytes(photo(5))
    wait_until(lambda: {str(root / "after.png"), str(root / "sub" / "real.png"), str(root / "swap.png")}
               <= {r.path for r in state.in_state("done")}, 30)
    swapped = [sha for name, sha in recorder.calls if name == "swap.png"]
    assert len(swapped) == 2  # taken again after the change; the first result dropped
    done = {r.path: r for r in state.in_state("done")}
    assert done[str(root / "swap.png")].sha256 == hashlib.sha256(photo(99)).hexdigest()
    assert str(root / "link.png") not in done and not any("loop" in p for p in done)
    assert "changed while it was being protected" in caplog.text
    assert not any(r.path.endswith("vanish.png") for r in state.in_state("pending"))


def test_an_unreadable_photo_is_reported_and_the_others_go_on():
    """Root reads any file, so where the tests run as root (CI) the watcher gives up root
    first (unreadable_run.py)."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="imageprotector-unreadable-"))
    try:
        folder, data = base / "photos", base / "data"
        folder.mkdir()
        data.mkdir()
        (folder / "locked.png").write_bytes(photo(1))
        (folder / "fine.png").write_bytes(photo(2))
        (folder / "locked.png").chmod(0)
        for path in (base, folder, data):
            path.chmod(0o777)
        (folder / "fine.png").chmod(0o644)
        root = Path(__file__).resolve().parents[2]
        run = subprocess.run([sys.executable, str(root / "tests" / "watcher" / "unreadable_run.py"), str(folder),
                              str(data)], capture_output=True, text=True, timeout=120, cwd=root,
                             env={**os.environ, "PYTHONPATH": str(root), "HOME": str(base)})
        assert run.returncode == 0, run.stderr[-3000:]
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["done"] == [str(folder / "fine.png")]
        [(path, error)] = result["failed"]
        assert path == str(folder / "locked.png") and "cannot read" in error and "Permission denied" in error
        assert result["calls"] == ["fine.png"]
        assert "gave up on" in run.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
