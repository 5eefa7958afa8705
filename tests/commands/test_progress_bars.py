"""Progress for `protect` as a user sees it in a terminal (a pseudo-terminal here): a bar per
photo with its phase, step, loss and ETA, an overall bar for a batch; none with --json or
-q, and none when stderr is not a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from tests.conftest import encode, natural_photo


def in_terminal(*args: str, cwd) -> str:
    """Run `imageprotector ARGS` with a 140x40 pseudo-terminal as stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "companion.cli", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(300) == 0, out[-2000:]
    return out.decode(errors="replace").replace("\r", "\n")


def photos(tmp_path, count: int = 2) -> list[str]:
    paths = []
    for i in range(count):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(encode(natural_photo(("astronaut", "coffee")[i % 2], (96, 72))))
        paths.append(str(path))
    return paths


def test_a_batch_in_a_terminal_shows_each_photos_phases_steps_and_eta_and_the_batch(tmp_path):
    text = in_terminal("protect", *photos(tmp_path), "--site", "instagram", cwd=tmp_path)
    bars = [line for line in text.splitlines() if "%|" in line]
    assert any("p0.png: attacking, step" in line and "loss" in line and "ETA at most" in line for line in bars)
    assert any("p0.png: verifying" in line for line in bars)
    # the second photo's ETA comes from the first one's steps: no longer "at most"
    assert any("p1.png: attacking, step" in line and "ETA" in line and "at most" not in line for line in bars)
    assert any("photos:" in line and "/2" in line for line in text.splitlines())
    assert text.count("ok     ") == 2


def test_json_and_quiet_draw_no_bars(tmp_path):
    for flag in ("--json", "-q"):
        text = in_terminal("protect", *photos(tmp_path, 1), "--steps", "2", "--no-verify", "--force", flag,
                           cwd=tmp_path)
        assert "%|" not in text and "ETA" not in text


def test_no_bars_when_stderr_is_not_a_terminal(tmp_path):
    run = subprocess.run([sys.executable, "-m", "companion.cli", "protect", *photos(tmp_path, 1), "--steps", "2",
                          "--no-verify"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0 and "%|" not in run.stderr and "ETA" not in run.stderr


def test_evaluate_in_a_terminal_shows_the_photo_being_protected_then_asked(tmp_path):
    [photo] = photos(tmp_path, 1)
    text = in_terminal("evaluate", photo, "--steps", "3", cwd=tmp_path)
    bars = [line for line in text.splitlines() if "%|" in line]
    assert any("p0.png: attacking, step" in line for line in bars)
    assert any("p0.png: asking" in line for line in bars)
