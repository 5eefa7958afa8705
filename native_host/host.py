"""The native messaging host: the browser starts it, and it carries photos to the companion.

Each request is a frame (framing.py) with a `type` and an `id`; every reply carries the
`id` of its request, so several requests may be in flight and one failing never loses
another. The main thread only reads frames and dispatches them; protecting runs on a
thread per photo, which relays the companion's progress and sends the result back in
chunks below the browser's 1 MiB limit.

Requests (examples in the README, "Native messaging protocol"):
    {"type": "ping", "id": "1"}
    {"type": "status", "id": "2"}
    {"type": "protect", "id": "3", "data": "<base64>", "name": "me.jpg", "mime": "image/jpeg",
     "site": "instagram", "options": {"epsilon": 8}}
    {"type": "chunk", "id": "4", "index": 0, "count": 2, "data": "<base64>"}  (then index 1)
    {"type": "protect", "id": "4", "chunks": 2, "name": ..., ...}  (the chunks, joined, are the photo)
    {"type": "cancel", "id": "3"}
Replies:
    {"type": "pong", "id": "1", "version": "..."}
    {"type": "status", "id": "2", "reachable": true, "version": ..., "device": ..., "models": [...],
     "queue_length": 0, "running": false}
    {"type": "progress", "id": "3", "state": "running", "phase": "attacking", "step": 4, "max_steps": 200,
     "fraction": 0.35, "eta": 3.5}
    {"type": "chunk", "id": "3", "index": 0, "count": 3, "data": "<base64>"}
    {"type": "done", "id": "3", "mime": "image/jpeg", "name": "me.protected.jpg", "size": 123, "sha256": "...",
     "receipt": {...}}
    {"type": "error", "id": "3", "code": "companion_unreachable", "message": "..."}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import BinaryIO

from companion import __version__
from companion.client import Companion, CompanionError
from native_host.framing import MAX_MESSAGE, FrameError, FrameWriter, read_frame

log = logging.getLogger(__name__)

#: Raw bytes per result chunk: base64 makes 4/3 of it, well under the 1 MiB reply limit.
CHUNK_BYTES = 600 * 1024
#: The most a photo sent in chunks may add up to (the companion's own upload cap).
MAX_PHOTO = 64 * 2**20

#: The error codes a reply may carry (documented in the README).
ERROR_CODES = {
    "companion_unreachable": "no companion answers, and it could not be started",
    "not_companion": "another program answers on the companion's port",
    "unauthorized": "the companion does not hold this user's token",
    "bad_image": "the file is not a photo we can read",
    "too_large": "the photo is over the size or pixel limit",
    "busy": "the companion's queue is full; try again shortly",
    "timeout": "the photo was not protected in time",
    "cancelled": "the request was cancelled",
    "protocol": "a message the host cannot use (framing, JSON, type, fields, base64)",
    "origin": "the extension calling is not one this host was installed for",
    "bad_option": "an option the companion does not accept (the message says which)",
    "model_unavailable": "the companion's model did not load",
    "failed": "protection failed for another reason (the message says which)",
}
#: The companion's codes, folded into the host's list.
_FOLD = {
    "not_an_image": "bad_image", "corrupt": "bad_image", "empty": "bad_image", "unsupported_format": "bad_image",
    "no_image": "bad_image", "queue_full": "busy", "busy": "busy", "too_large": "too_large",
}
#: Options a page may set, passed to the companion as form fields.
OPTIONS = ("epsilon", "steps", "seed", "model", "robust", "format", "max_size")


def fold(code: str) -> str:
    """The host's code for a companion's or client's `code`."""
    code = _FOLD.get(code, code)
    return code if code in ERROR_CODES else "failed"


class Host:
    """Serves one browser connection: frames in on `reader`, frames out through `writer`."""

    def __init__(self, reader: BinaryIO, writer: FrameWriter, companion: Callable[[], Companion],
                 photo_timeout: float | None = None) -> None:
        """`photo_timeout`: seconds a photo may take before its request ends with `timeout`
        (and its job is cancelled); None: no limit."""
        self.reader = reader
        self.writer = writer
        self.companion = companion  # a factory: each request gets a client of its own
        self.photo_timeout = photo_timeout
        self._cancel: dict[str, threading.Event] = {}
        self._chunks: dict[str, dict[int, bytes]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- replies -------------------------------------------------------------------------
    def reply(self, request_id, kind: str, **fields) -> bool:
        return self.writer.send({"type": kind, "id": request_id, **fields})

    def error(self, request_id, code: str, message: str) -> None:
        log.info("request %s: %s (%s)", request_id, code, message)
        self.reply(request_id, "error", code=code, message=message)

    # -- the loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Read and dispatch until the browser closes stdin; then cancel what still runs."""
        while True:
            try:
                message = read_frame(self.reader, MAX_MESSAGE)
            except FrameError as exc:
                self.error(exc.request_id, "protocol", str(exc))
                continue
            if message is None:
                break
            self.dispatch(message)
        with self._lock:
            events = list(self._cancel.values())
        for event in events:
            event.set()
        for thread in self._threads:
            thread.join(timeout=10)
        log.info("the browser closed the connection; host done")

    def dispatch(self, message: dict) -> None:
        request_id = message.get("id")
        kind = message.get("type")
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            self.error(None, "protocol", "every message needs an 'id' (a string or a number)")
            return
        handler = {"ping": self.ping, "status": self.status, "protect": self.protect, "chunk": self.chunk,
                   "cancel": self.cancel}.get(kind if isinstance(kind, str) else "")
        if handler is None:
            self.error(request_id, "protocol", f"unknown message type {kind!r}")
            return
        try:
            handler(request_id, message)
        except _Invalid as exc:
            self.error(request_id, "protocol", str(exc))

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # -- requests ------------------------------------------------------------------------
    def ping(self, request_id, message: dict) -> None:
        self.reply(request_id, "pong", version=__version__)

    def status(self, request_id, message: dict) -> None:
        self._spawn(self._status, request_id)

    def _status(self, request_id) -> None:
        try:
            health = self.companion().health()
        except CompanionError as exc:
            self.reply(request_id, "status", reachable=False, code=fold(exc.code), message=exc.message)
            return
        self.reply(request_id, "status", reachable=True, status=health.get("status"), version=health.get("version"),
                   device=health.get("device"), models=health.get("models"), queue_length=health.get("queue_length"),
                   running=health.get("running"), error=health.get("error"))

    def chunk(self, request_id, message: dict) -> None:
        index, count = message.get("index"), message.get("count")
        if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
            raise _Invalid("a chunk needs 'index' and 'count', 0 <= index < count")
        data = _b64(message.get("data"))
        with self._lock:
            parts = self._chunks.setdefault(request_id, {})
            parts[index] = data
            total = sum(len(p) for p in parts.values())
            if total > MAX_PHOTO:
                del self._chunks[request_id]
        if total > MAX_PHOTO:
            self.error(request_id, "too_large", f"the chunks add up to over {MAX_PHOTO // 2**20} MiB")

    def cancel(self, request_id, message: dict) -> None:
        with self._lock:
            event = self._cancel.get(request_id)
            self._chunks.pop(request_id, None)
        if event is not None:
            event.set()

    def protect(self, request_id, message: dict) -> None:
        if "chunks" in message:
            count = message["chunks"]
            with self._lock:
                parts = self._chunks.pop(request_id, {})
            if not isinstance(count, int) or sorted(parts) != list(range(count)) or count < 1:
                raise _Invalid(f"'chunks' is {count!r} but chunks {sorted(parts)} arrived for this id")
            data = b"".join(parts[i] for i in range(count))
        else:
            data = _b64(message.get("data"))
        if not data:
            raise _Invalid("no photo: send 'data' (base64) or chunks")
        name, mime = message.get("name") or "photo", message.get("mime") or "application/octet-stream"
        options = message.get("options") or {}
        if not isinstance(name, str) or not isinstance(mime, str) or not isinstance(options, dict):
            raise _Invalid("'name' and 'mime' must be strings, 'options' an object")
        fields = {k: options[k] for k in OPTIONS if options.get(k) is not None}
        if message.get("site"):
            fields["site"] = str(message["site"])
        with self._lock:
            if request_id in self._cancel:
                raise _Invalid(f"request id {request_id!r} is already in flight")
            self._cancel[request_id] = threading.Event()
        self._spawn(self._protect, request_id, data, name, mime, fields)

    def _protect(self, request_id, data: bytes, name: str, mime: str, fields: dict) -> None:
        cancelled = self._cancel[request_id]

        def relay(job: dict) -> None:
            self.reply(request_id, "progress", state=job.get("state"), phase=job.get("phase"), step=job.get("step"),
                       max_steps=job.get("max_steps"), fraction=job.get("progress"), eta=job.get("eta"))

        try:
            result = self.companion().protect(data, name, mime, on_progress=relay, cancelled=cancelled.is_set,
                                              deadline=self.photo_timeout, **{k: str(v) for k, v in fields.items()})
            self.send_file(request_id, result.data, result.mime, result.name, result.receipt)
        except CompanionError as exc:
            self.error(request_id, fold(exc.code), exc.message)
        except Exception as exc:  # noqa: BLE001 - one photo's failure never takes the host down
            log.exception("request %s failed", request_id)
            self.error(request_id, "failed", f"{exc.__class__.__name__}: {exc}")
        finally:
            with self._lock:
                self._cancel.pop(request_id, None)

    def send_file(self, request_id, data: bytes, mime: str, name: str, receipt: dict) -> None:
        """The file in chunks under the reply limit, then `done` with its sha256."""
        count = max(1, -(-len(data) // CHUNK_BYTES))
        for index in range(count):
            part = data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES]
            if not self.reply(request_id, "chunk", index=index, count=count, data=base64.b64encode(part).decode()):
                return  # the browser has gone
        digest = hashlib.sha256(data).hexdigest()
        log.info("request %s: sent %s (%d bytes in %d chunks, sha256 %s)", request_id, name, len(data), count, digest)
        self.reply(request_id, "done", mime=mime, name=name, size=len(data), sha256=digest, receipt=receipt)


class _Invalid(Exception):
    """A request whose fields cannot be used: answered with `protocol`."""


def _b64(value) -> bytes:
    if not isinstance(value, str):
        raise _Invalid("'data' must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid("'data' is not valid base64") from None
