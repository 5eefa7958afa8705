"""The Flask application: `create_app(config)` (an app factory, as in Flask's tutorial).

Routes, all JSON, under /v1 (README "Companion API"):

    GET    /v1/health              status, version, device, models, queue length (no token needed)
    GET    /v1/hello?nonce=HEX     the server's proof that it holds the token (no token needed; auth.py)
    POST   /v1/jobs                multipart `image` + options -> 202 {"id", ...}
    GET    /v1/jobs/<id>           state, progress, step, eta, receipt or error
    GET    /v1/jobs/<id>/result    the protected file
    DELETE /v1/jobs/<id>           cancel (queued or running)
    POST   /v1/protect             the same as a job, waited for: answers with the file

Safety for a server any web page could try to reach: requests with a Host other than our
own loopback name and port are refused (DNS rebinding), every route but health needs the
bearer token (constant-time comparison), CORS is granted only to the configured extension
origins, and no GET changes state. Errors are `{"error": {"code", "message"}}`, never a
stack trace. Uploads are parsed in memory (werkzeug would spool files over 500 KB to a
temporary file), and at most `config.sync_waiters` callers may wait on /v1/protect at once,
so some request threads always answer health, job state and cancel.
"""

from __future__ import annotations

import io
import json
import logging
import time
import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import PurePath
from urllib.parse import quote

from flask import Flask, g, jsonify, Request, request, Response
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from companion import __version__
from companion.engine import imageio
from companion.engine.errors import ProtectError
from companion.engine.protect import ProtectOptions, output_name
from companion.engine.sites import get_site
from companion.models.base import Adapter
from companion.models.registry import expand, load_adapters
from companion.server.auth import NONCE, refusal, server_proof
from companion.server.config import ServerConfig
from companion.server.jobs import CANCELLED, DONE, FAILED, JobQueue, QueueFull

log = logging.getLogger(__name__)

#: HTTP status for each error code a client can cause (anything else is 400)
STATUS = {"too_large": 413, "unauthorized": 401, "bad_host": 421, "not_found": 404, "not_ready": 409,
          "queue_full": 503, "busy": 503, "cancelled": 409, "internal": 500, "model_unavailable": 503}
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
SYNC_TIMEOUT = 900.0  # seconds POST /v1/protect waits for its job


class InMemoryRequest(Request):
    """A request whose uploaded files are parsed into memory, never into a temporary file:
    a photo must not touch the disk (waitress is told the same, serve.py). The body is
    capped by MAX_CONTENT_LENGTH before it is parsed."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class Busy(Exception):
    """Every thread that may wait on /v1/protect is waiting already."""


def error(code: str, message: str, status: int | None = None, headers: dict | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status or STATUS.get(code, 400)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def create_app(
    config: ServerConfig,
    token: str | None = None,
    load: Callable[[], Sequence[Adapter]] | None = None,
    device: str = "cpu",
) -> Flask:
    """The application over a JobQueue whose worker loads the models with `load` (by default
    the config's models from the registry). `token` defaults to the stored one (auth.py)."""
    if token is None:
        from companion.server.auth import get_token

        token = get_token()
    app = Flask(__name__)
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload
    waiters = threading.BoundedSemaphore(config.sync_waiters)
    if load is None:
        def load() -> list[Adapter]:
            return load_adapters(list(config.models), config.device, presets=config.presets,
                                 checkpointing=config.checkpointing, offload_mode=config.offload)

    jobs = JobQueue(load, config.queue_size, config.result_ttl, config.result_bytes, config.preload)
    app.extensions["imageprotector.jobs"] = jobs
    jobs.start()
    CORS(app, resources={r"/v1/*": {"origins": list(config.allowed_origins)}},
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "DELETE"], max_age=600)

    @app.before_request
    def started():
        g.started = time.monotonic()

    @app.after_request
    def log_request(response):
        # method, path, status and time only: never a header, a query, a file name or a token
        spent = (time.monotonic() - g.get("started", time.monotonic())) * 1000
        log.info("%s %s %d %.0f ms", request.method, request.path, response.status_code, spent)
        return response

    @app.before_request
    def guard():
        refused = refusal(request.method, request.path, request.host, request.headers.get("Authorization"),
                          config.hosts, token)
        if refused is None:
            return None
        code, message = refused
        return error(code, message, headers={"WWW-Authenticate": "Bearer"} if code == "unauthorized" else None)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.code or 0, "bad_request")
        return error(code, exc.description or exc.name, exc.code)

    @app.errorhandler(ProtectError)
    def protect_error(exc: ProtectError):
        return error(exc.code, exc.message)

    @app.errorhandler(QueueFull)
    def queue_full(exc: QueueFull):
        return error("queue_full", str(exc), headers={"Retry-After": str(exc.retry_after)})

    @app.errorhandler(Busy)
    def busy(exc: Busy):
        return error("busy", f"{config.sync_waiters} callers wait on /v1/protect already; "
                             "submit to /v1/jobs and poll it instead, or retry later",
                     headers={"Retry-After": str(jobs.retry_after())})

    @app.errorhandler(Exception)
    def internal(exc: Exception):
        log.exception("request failed")
        return error("internal", f"internal error: {type(exc).__name__}", 500)

    @app.get("/v1/health")
    def health():
        adapters = jobs.adapters
        running = jobs.running
        failure = jobs.load_error
        return jsonify({
            **({"error": {"code": failure.code, "message": failure.message}} if failure else {}),
            "status": "ok" if failure is None else "error",
            "version": __version__,
            "device": str(adapters[0].device) if adapters else device,
            # the models by name, presets expanded: the loaded ones, or those that will be
            "models": [a.name for a in adapters] if adapters else expand(list(config.models), config.presets),
            "models_loaded": adapters is not None,
            "load": "at start" if config.preload else "on first use",
            "queue_length": jobs.queue_length,
            "running": running is not None,
        })

    @app.get("/v1/hello")
    def hello():
        nonce = (request.args.get("nonce") or "").lower()
        if not NONCE.fullmatch(nonce):
            raise ProtectError("bad_nonce", "nonce must be 32 to 128 hex digits, fresh for every check")
        return jsonify({"server": "imageprotector", "version": __version__,
                        "proof": server_proof(token, config.port, nonce)})

    def submit():
        upload = request.files.get("image")
        if upload is None:
            raise ProtectError("no_image", "send the photo as the multipart field 'image'")
        data = upload.read()
        imageio.probe(data, config.max_pixels)  # empty, non-image, bomb: refused before queueing
        options, models = _options(request.form, config)
        name = PurePath((upload.filename or "photo").replace("\\", "/")).name or "photo"
        return jobs.submit(data, options, name, models)

    @app.post("/v1/jobs")
    def create_job():
        job = submit()
        response = jsonify(job.to_dict())
        response.status_code = 202
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return response

    def find(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise ProtectError("not_found", f"no job {job_id} (finished jobs are kept {config.result_ttl:.0f} s)")
        return job

    @app.get("/v1/jobs/<job_id>")
    def job_state(job_id: str):
        return jsonify(find(job_id).to_dict())

    @app.delete("/v1/jobs/<job_id>")
    def cancel_job(job_id: str):
        response = jsonify(jobs.cancel(find(job_id).id).to_dict())
        response.status_code = 202
        return response

    def file_response(job) -> Response:
        """The finished job's file, or the error that says why there is none."""
        if job.state == FAILED:
            return error(job.error.code, job.error.message)
        if job.state != DONE:
            return error("not_ready", f"the job is {job.state}", 409)
        result = job.result
        stem = _printable(PurePath(job.name).stem)
        response = Response(result.data, mimetype=MIME[result.format])
        # RFC 6266: an ASCII name for old clients, the real one in any script as filename*
        # (werkzeug quotes both; waitress can only send Latin-1 headers)
        ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().strip() or "photo"
        response.headers.set("Content-Disposition", "attachment",
                             filename=output_name(ascii_stem, result.extension),
                             **{"filename*": "UTF-8''" + quote(output_name(stem, result.extension), safe="")})
        response.headers["X-ImageProtector-Receipt"] = json.dumps(job.to_dict()["receipt"])
        return response

    @app.get("/v1/jobs/<job_id>/result")
    def job_result(job_id: str):
        return file_response(find(job_id))

    @app.post("/v1/protect")
    def protect_now():
        if not waiters.acquire(blocking=False):
            raise Busy()
        try:
            job = submit()
            if not job.done.wait(SYNC_TIMEOUT):
                jobs.cancel(job.id)
                return error("timeout", f"not done within {SYNC_TIMEOUT:.0f} s; use /v1/jobs for long work", 504)
        finally:
            waiters.release()
        if job.state == CANCELLED:
            return error("cancelled", "the job was cancelled")
        return file_response(job)

    return app


def _printable(name: str) -> str:
    """The name without control characters (no header may carry a newline), at most 200 characters."""
    return "".join(c if c.isprintable() else "_" for c in name)[:200] or "photo"


def _options(form, config: ServerConfig) -> tuple[ProtectOptions, list[str]]:
    """ProtectOptions from the form fields, checked; and the models asked for (default: all)."""
    def number(key: str, default, kind=int):
        value = form.get(key)
        if value in (None, ""):
            return default
        try:
            return kind(value)
        except ValueError:
            raise ProtectError("bad_option", f"{key} must be a number, got {value!r}") from None

    steps = number("steps", 200)
    if not 1 <= steps <= config.max_steps:
        raise ProtectError("bad_option", f"steps must be between 1 and {config.max_steps}")
    site = get_site(form.get("site") or "generic").name
    robust = (form.get("robust") or "true").lower() not in ("0", "false", "no", "off")
    fmt = form.get("format") or None
    if fmt not in (None, "keep", "jpeg", "png", "webp"):
        raise ProtectError("bad_format", f"unknown output format {fmt!r}; use jpeg, png or webp")
    models = [m for m in (form.get("model") or "").split(",") if m]
    unknown = [m for m in models if m not in config.models]
    if unknown:
        raise ProtectError("unknown_model", f"this server has loaded {', '.join(config.models)}, not {', '.join(unknown)}")
    options = ProtectOptions(
        epsilon=number("epsilon", 8), steps=steps, seed=number("seed", 0), site=site, robust=robust,
        max_edge=number("max_size", None), format=None if fmt == "keep" else fmt, max_pixels=config.max_pixels,
    )
    options.validate()  # the engine's own rules, before the job takes a place in the queue
    return options, models
