"""The Flask application: `create_app(config)` (an app factory, as in Flask's tutorial).

Routes, all JSON, under /v1 (README "Companion API"):

    GET    /v1/health              status, version, device, models, queue length (no token needed)
    POST   /v1/jobs                multipart `image` + options -> 202 {"id", ...}
    GET    /v1/jobs/<id>           state, progress, step, eta, receipt or error
    GET    /v1/jobs/<id>/result    the protected file
    DELETE /v1/jobs/<id>           cancel (queued or running)
    POST   /v1/protect             the same as a job, waited for: answers with the file

Safety for a server any web page could try to reach: requests with a Host other than our
own loopback name and port are refused (DNS rebinding), every route but health needs the
bearer token (constant-time comparison), CORS is granted only to the configured extension
origins, and no GET changes state. Errors are `{"error": {"code", "message"}}`, never a
stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import PurePath

from flask import Flask, Response, jsonify, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from companion import __version__
from companion.engine import imageio
from companion.engine.errors import ProtectError
from companion.engine.protect import ProtectOptions, output_name
from companion.engine.sites import get_site
from companion.models.base import Adapter
from companion.server.auth import token_matches
from companion.server.config import ServerConfig
from companion.server.jobs import CANCELLED, DONE, FAILED, JobQueue, QueueFull

log = logging.getLogger(__name__)

#: HTTP status for each error code a client can cause (anything else is 400)
STATUS = {"too_large": 413, "unauthorized": 401, "bad_host": 421, "not_found": 404, "not_ready": 409,
          "queue_full": 503, "cancelled": 409, "internal": 500, "model_unavailable": 503}
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
SYNC_TIMEOUT = 900.0  # seconds POST /v1/protect waits for its job


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
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload
    if load is None:
        from companion.models.registry import load_adapter

        def load() -> list[Adapter]:
            return [load_adapter(name, config.device) for name in config.models]

    jobs = JobQueue(load, config.queue_size, config.result_ttl, config.result_bytes, config.preload)
    app.extensions["imageprotector.jobs"] = jobs
    jobs.start()
    CORS(app, resources={r"/v1/*": {"origins": list(config.allowed_origins)}},
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "DELETE"], max_age=600)

    @app.before_request
    def guard():
        if request.host not in config.hosts:
            return error("bad_host", f"this server answers to {sorted(config.hosts)[0]} only")
        if request.method == "OPTIONS" or request.path == "/v1/health":
            return None  # CORS preflight carries no token; health tells nothing secret
        if not token_matches(request.headers.get("Authorization"), token):
            return error("unauthorized", "missing or wrong bearer token (see `imageprotector token`)",
                         headers={"WWW-Authenticate": "Bearer"})
        return None

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
            "models": config.models,
            "models_loaded": adapters is not None,
            "load": "at start" if config.preload else "on first use",
            "queue_length": jobs.queue_length,
            "running": running is not None,
        })

    def submit():
        upload = request.files.get("image")
        if upload is None:
            raise ProtectError("no_image", "send the photo as the multipart field 'image'")
        data = upload.read()
        imageio.probe(data, config.max_pixels)  # empty, non-image, bomb: refused before queueing
        options, models = _options(request.form, config)
        name = PurePath(upload.filename or "photo").name
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
        name = output_name(PurePath(job.name).stem, result.extension)
        response = Response(result.data, mimetype=MIME[result.format])
        response.headers["Content-Disposition"] = f'attachment; filename="{_header_safe(name)}"'
        response.headers["X-ImageProtector-Receipt"] = json.dumps(job.to_dict()["receipt"])
        return response

    @app.get("/v1/jobs/<job_id>/result")
    def job_result(job_id: str):
        return file_response(find(job_id))

    @app.post("/v1/protect")
    def protect_now():
        job = submit()
        if not job.done.wait(SYNC_TIMEOUT):
            jobs.cancel(job.id)
            return error("timeout", f"not done within {SYNC_TIMEOUT:.0f} s; use /v1/jobs for long work", 504)
        if job.state == CANCELLED:
            return error("cancelled", "the job was cancelled")
        return file_response(job)

    return app


def _header_safe(name: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in name)[:200]


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
    if not 1 <= options.epsilon <= 64:
        raise ProtectError("bad_option", f"epsilon must be between 1 and 64 (/255), got {options.epsilon}")
    return options, models
