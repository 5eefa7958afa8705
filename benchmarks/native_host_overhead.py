"""What the native host adds to protecting a photo: base64, framing and chunking.

    python benchmarks/native_host_overhead.py [--size 4000x3000] [--steps 5] [--runs 3]

Starts a companion (`imageprotector serve`, demo model, CPU) on a free loopback port with
a private config folder, then protects the same JPEG photo `--runs` times each way: through
the companion client directly (`companion/client.py`, what the host itself calls), and
through the native host as a browser drives it (a child process, the photo as one base64
frame, the result back in chunks). Prints the median seconds from request to the last
byte each way, and the host's overhead as a share of the whole.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_jpeg, natural_photo  # noqa: E402
from native_host.framing import HEADER, MAX_MESSAGE, encode_frame, read_frame  # noqa: E402
from native_host.origins import DEFAULT_CALLERS  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through_host(env: dict, photo: bytes, steps: int) -> tuple[float, int]:
    """Seconds from sending the photo to the host until `done`, and the number of chunks."""
    proc = subprocess.Popen([sys.executable, "-m", "native_host.main", DEFAULT_CALLERS[0]], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    start = time.monotonic()
    proc.stdin.write(encode_frame({"type": "protect", "id": "b", "data": base64.b64encode(photo).decode(),
                                   "name": "photo.jpg", "mime": "image/jpeg",
                                   "options": {"steps": steps, "max_size": 0}}, MAX_MESSAGE))
    proc.stdin.flush()
    chunks = 0
    while True:
        header = proc.stdout.read(HEADER.size)
        (length,) = HEADER.unpack(header)
        message = read_frame(io.BytesIO(header + proc.stdout.read(length)))
        if message["type"] == "chunk":
            base64.b64decode(message["data"])
            chunks += 1
        elif message["type"] == "done":
            elapsed = time.monotonic() - start
            break
        elif message["type"] == "error":
            raise RuntimeError(message)
    proc.stdin.close()
    proc.wait(30)
    return elapsed, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    photo = encode_jpeg(natural_photo("coffee", (width, height)), quality=90)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "IMAGEPROTECTOR_CONFIG_DIR": tmp, "IMAGEPROTECTOR_LOG_DIR": tmp,
               "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "HF_HUB_OFFLINE": "1"}
        Path(tmp, "config.json").write_text(f'{{"port": {port}, "autostart": false}}')
        server = subprocess.Popen([sys.executable, "-m", "companion.cli", "serve", "--port", str(port),
                                   "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            os.environ.update(env)
            from companion.client import Companion, CompanionError

            client = Companion(port)
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.health().get("models_loaded"):
                        break
                except CompanionError:
                    pass
                assert time.monotonic() < deadline, "the companion did not come up"
                time.sleep(0.2)
            direct, hosted, chunks = [], [], 0
            for _ in range(args.runs):
                start = time.monotonic()
                result = client.protect(photo, "photo.jpg", "image/jpeg", steps=args.steps, max_size=0)
                direct.append(time.monotonic() - start)
                seconds, chunks = through_host(env, photo, args.steps)
                hosted.append(seconds)
        finally:
            server.terminate()
            server.wait(30)
    d, h = statistics.median(direct), statistics.median(hosted)
    print(f"{width}x{height} JPEG ({len(photo) / 2**20:.1f} MiB in, {len(result.data) / 2**20:.1f} MiB out, "
          f"{chunks} chunks), {args.steps} steps, median of {args.runs}")
    print(f"{'path':>28} | {'s':>6}")
    print(f"{'companion client (the job)':>28} | {d:6.2f}")
    print(f"{'through the native host':>28} | {h:6.2f}")
    print(f"host overhead: {h - d:.2f} s, {100 * (h - d) / h:.1f}% of the whole")


if __name__ == "__main__":
    main()
