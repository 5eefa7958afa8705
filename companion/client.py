"""The one client of the companion's /v1 API, for the native host and the folder watcher.

It finds the companion the way the server finds its port (a flag beats
`IMAGEPROTECTOR_PORT`, which beats the config file, which beats 8765) and reads the token
from the same store (keyring, else the 0600 file). Before the token leaves this process it
checks that the program on the port is our companion: a fresh nonce goes to
`GET /v1/hello`, and only a server that holds the token can answer it (auth.py). A process
that took the port first learns nothing.

Every failure is a `CompanionError` with a stable `code`: `companion_unreachable`,
`not_companion` (something else answers on the port), `unauthorized` (a companion that
cannot prove it holds our token, or refuses it), `timeout`, `cancelled`, `protocol`, or the server's own
code (`bad_image`, `too_large`, `busy`, `unsupported_format`, `model_unavailable`, ...).
Nothing else in the project speaks HTTP to the companion by hand.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class CompanionError(Exception):
    """A failure talking to the companion; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


@dataclass
class Result:
    """A protected file as the companion sent it back."""

    data: bytes
    mime: str
    name: str
    receipt: dict = field(default_factory=dict)


def _filename(disposition: str) -> str:
    """The file name of a Content-Disposition header, the RFC 6266 `filename*` preferred."""
    name = ""
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            return unquote(value[7:])
        if key.lower() == "filename":
            name = value.strip('"')
    return name


class Companion:
    """A connection to the local companion on `port` (default: as the server finds it)."""

    def __init__(self, port: int | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        if port is None:
            from companion.server.config import load_config

            port = load_config().port
        self.port = port
        self.timeout = timeout
        self._token = token
        self._verified = False

    # -- plumbing ----------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 auth: bool = True, timeout: float | None = None) -> tuple[int, dict, bytes]:
        headers = {"Host": f"{HOST}:{self.port}", **(headers or {})}
        if auth:
            self.verify()
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except (ConnectionError, socket.gaierror) as exc:
            raise CompanionError("companion_unreachable", f"no companion answers on port {self.port} ({exc})") from None
        except (TimeoutError, socket.timeout):
            raise CompanionError("timeout", f"the companion on port {self.port} did not answer in time") from None
        except (http.client.HTTPException, OSError) as exc:
            raise CompanionError("companion_unreachable", f"the connection to port {self.port} failed ({exc})") from None
        finally:
            conn.close()

    def _json(self, status: int, headers: dict, data: bytes, expected: tuple[int, ...] = (200,)) -> dict:
        try:
            body = json.loads(data.decode("utf-8")) if data else {}
        except (UnicodeDecodeError, ValueError):
            raise CompanionError("protocol", f"the companion answered {status} with a body that is not JSON") from None
        if status in expected:
            return body
        raise self._error(status, headers, body)

    @staticmethod
    def _error(status: int, headers: dict, body: dict) -> CompanionError:
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code", "") if isinstance(error, dict) else ""
        message = error.get("message", "") if isinstance(error, dict) else ""
        retry = headers.get("retry-after")
        return CompanionError(code or f"http_{status}", message or f"the companion answered {status}", status,
                              float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)

    @property
    def token(self) -> str:
        if self._token is None:
            from companion.server.auth import get_token

            token = get_token(create=False)
            if not token:
                raise CompanionError("unauthorized", "no token yet: start the companion once (`imageprotector serve`)")
            self._token = token
        return self._token

    # -- the API -----------------------------------------------------------------------
    def health(self) -> dict:
        """GET /v1/health (no token): status, version, device, models, queue."""
        status, headers, data = self._request("GET", "/v1/health", auth=False, timeout=min(self.timeout, 5.0))
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        if status not in (200, 503) or not isinstance(body, dict) or "models_loaded" not in body:
            # another program's web server (a 404 page, say) is not a protocol error of ours
            raise CompanionError("not_companion", f"the program on port {self.port} answers {status} but is not "
                                 "the ImageProtector companion: stop it, or give the companion another port")
        return body

    def verify(self) -> None:
        """Make sure the program on the port is our companion before the token is sent."""
        if self._verified:
            return
        from companion.server.auth import proof_matches

        nonce = secrets.token_hex(16)
        status, headers, data = self._request("GET", f"/v1/hello?nonce={nonce}", auth=False,
                                              timeout=min(self.timeout, 5.0))
        try:
            body = json.loads(data.decode("utf-8"))
            proof = body["proof"] if status == 200 and body.get("server") == "imageprotector" else None
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            proof = None
        if not isinstance(proof, str):
            raise CompanionError("not_companion", f"the program on port {self.port} is not the ImageProtector "
                                 "companion (or an old one); the token was not sent")
        if not proof_matches(self.token, self.port, nonce, proof):
            raise CompanionError("unauthorized", f"the companion on port {self.port} does not hold your token "
                                 "(it was rotated, or another user's companion runs there): restart it, or check "
                                 "`imageprotector token`; the token was not sent")
        self._verified = True

    def submit(self, data: bytes, name: str = "photo", mime: str = "application/octet-stream", **fields) -> dict:
        """POST /v1/jobs: the job (id, state) of `data`, with options as form fields
        (site, epsilon, steps, seed, model, robust, format, max_size)."""
        body, kind = _multipart(data, name, mime, {k: v for k, v in fields.items() if v is not None})
        status, headers, raw = self._request("POST", "/v1/jobs", body, {"Content-Type": kind})
        return self._json(status, headers, raw, (202,))

    def job(self, job_id: str) -> dict:
        """GET /v1/jobs/<id>: state, progress, step, max_steps, eta, receipt or error."""
        status, headers, raw = self._request("GET", f"/v1/jobs/{quote(job_id)}")
        return self._json(status, headers, raw)

    def result(self, job_id: str) -> Result:
        """GET /v1/jobs/<id>/result: the protected file."""
        status, headers, raw = self._request("GET", f"/v1/jobs/{quote(job_id)}/result")
        if status != 200:
            self._json(status, headers, raw, ())  # raises the server's error
        try:
            receipt = json.loads(headers.get("x-imageprotector-receipt", "{}"))
        except ValueError:
            receipt = {}
        return Result(raw, headers.get("content-type", "application/octet-stream"),
                      _filename(headers.get("content-disposition", "")) or "photo.protected", receipt)

    def cancel(self, job_id: str) -> None:
        """DELETE /v1/jobs/<id>; a job already finished or gone is not an error."""
        status, headers, raw = self._request("DELETE", f"/v1/jobs/{quote(job_id)}")
        if status not in (200, 202, 204, 404, 409):
            self._json(status, headers, raw, ())

    def protect(self, data: bytes, name: str = "photo", mime: str = "application/octet-stream",
                on_progress: Callable[[dict], None] | None = None, cancelled: Callable[[], bool] | None = None,
                poll: float = 0.25, deadline: float | None = None, **fields) -> Result:
        """Submit `data`, follow the job (each new state goes to `on_progress`), return the
        protected file. `cancelled()` true cancels the job; past `deadline` seconds the job
        is cancelled and a `timeout` raised."""
        job = self.submit(data, name, mime, **fields)
        job_id = job["id"]
        start, last = time.monotonic(), None
        try:
            while True:
                if cancelled is not None and cancelled():
                    raise CompanionError("cancelled", "cancelled before the photo was protected")
                if deadline is not None and time.monotonic() - start > deadline:
                    raise CompanionError("timeout", f"the photo was not protected within {deadline:.0f} s")
                job = self.job(job_id)
                state = job.get("state")
                seen = (state, job.get("step"))
                if on_progress is not None and seen != last:
                    on_progress(job)
                last = seen
                if state == "done":
                    return self.result(job_id)
                if state == "failed":
                    error = job.get("error") or {}
                    raise CompanionError(error.get("code", "failed"), error.get("message", "protection failed"))
                if state == "cancelled":
                    raise CompanionError("cancelled", "the job was cancelled")
                time.sleep(poll)
        except CompanionError as exc:
            if exc.code in ("cancelled", "timeout"):
                try:
                    self.cancel(job_id)
                except CompanionError:
                    pass
            raise


def _multipart(data: bytes, name: str, mime: str, fields: dict) -> tuple[bytes, str]:
    """A multipart/form-data body: string fields, then the file as `image`."""
    boundary = f"imageprotector-{uuid.uuid4().hex}"
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    safe = name.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{safe}"\r\n'
                 f"Content-Type: {mime}\r\n\r\n".encode("utf-8"))
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
