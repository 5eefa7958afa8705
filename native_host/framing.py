"""Native messaging frames: a 32-bit native-endian length, then that many bytes of UTF-8 JSON.

Browsers send a host messages of up to 64 MiB and accept replies of at most 1 MiB, so
`write_frame` refuses anything larger than `MAX_REPLY` (the host chunks files below it).
The streams are binary (`sys.stdin.buffer`, `sys.stdout.buffer`): no newline translation on
any OS, and nothing but frames is ever written to stdout.

`read_frame` survives what a confused or hostile sender can do: a length over the limit is
answered (by the caller) with a `protocol` error and its bytes are skipped, so the stream
stays in step; broken UTF-8 or JSON, or JSON that is not an object, is a `FrameError` the
caller answers; a stream that ends, even mid-frame, is a clean end (None).
"""

from __future__ import annotations

import json
import struct
import threading
from typing import BinaryIO

HEADER = struct.Struct("=I")  # native byte order, 4 bytes, as Chrome and Firefox write it
MAX_MESSAGE = 64 * 2**20  # the most a browser sends a host in one message
MAX_REPLY = 2**20  # the most a browser accepts from a host in one message
_SKIP = 2**16


class FrameError(Exception):
    """A frame that was read whole but cannot be used; `request_id` when one could be read."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _read_exactly(stream: BinaryIO, n: int) -> bytes | None:
    """`n` bytes, or None when the stream ends first."""
    parts, left = [], n
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_frame(stream: BinaryIO, limit: int = MAX_MESSAGE) -> dict | None:
    """The next message, or None at the end of the stream. Raises FrameError for a frame
    that is too long (after skipping it), not UTF-8, not JSON, or not a JSON object."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > limit:
        left = length
        while left:
            part = stream.read(min(left, _SKIP))
            if not part:
                break
            left -= len(part)
        raise FrameError(f"message of {length} bytes is over the {limit} byte limit")
    body = _read_exactly(stream, length)
    if body is None:
        return None
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"message is not UTF-8 JSON ({exc.__class__.__name__})") from None
    if not isinstance(message, dict):
        raise FrameError("message is not a JSON object")
    return message


def encode_frame(message: dict, limit: int = MAX_REPLY) -> bytes:
    """The frame of `message`; ValueError if it is over `limit` (default: what a browser
    accepts from a host; a browser itself may send up to MAX_MESSAGE)."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > limit:
        raise ValueError(f"message of {len(body)} bytes is over the {limit} byte limit")
    return HEADER.pack(len(body)) + body


class FrameWriter:
    """Writes whole frames to a binary stream from any thread, one at a time."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, message: dict) -> bool:
        """Write `message`; False when the browser has gone (the pipe is closed)."""
        frame = encode_frame(message)
        with self._lock:
            if self.closed:
                return False
            try:
                self._stream.write(frame)
                self._stream.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                self.closed = True
                return False
