"""Run the companion under waitress on the loopback interface.

Why waitress: a production WSGI server in pure Python (no compiler, same behaviour on
Linux, macOS and Windows, where the companion runs as a user's background program),
multi-threaded so health and job polling are answered while a long job runs, with its
own limits on request size and connections, and able to listen on several sockets at
once (127.0.0.1 and ::1). Its limits are set here deliberately (README "What a local user
can do"): connections, request threads, bodies kept in memory, idle timeouts; channel.py
adds what its settings lack (refusal before the body, a deadline for request headers).
Flask's development server is not meant to run for days; the process-forking servers
(gunicorn) do not run on Windows and would load the model once per worker.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable

from companion.server.app import create_app
from companion.server.auth import get_token
from companion.server.channel import guard
from companion.server.config import ServerConfig

log = logging.getLogger(__name__)


def _listen(port: int) -> str:
    """127.0.0.1, plus ::1 where this machine has IPv6 loopback."""
    addresses = [f"127.0.0.1:{port}"]
    if socket.has_ipv6:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
                probe.bind(("::1", 0))
            addresses.append(f"[::1]:{port}")
        except OSError:
            pass
    return " ".join(addresses)


def serve(config: ServerConfig, beside: Callable[[ServerConfig, str], Callable[[], None]] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; the model is loaded by the worker (at start by default).

    `beside(config, token)`, once the socket listens, starts what runs in the same process
    (the folder watcher of `serve --watch`) and returns how to stop it, which is called
    before the jobs stop.

    A signal cancels the jobs (the running one stops between attack steps, waiting callers
    get their answer), closes the sockets and returns: the command exits 0, no traceback.
    """
    from waitress import create_server, wasyncore

    from companion.models.registry import locate, resolve_device

    for name in config.models:  # a model that is not there is a start-up error, not a failed job later
        locate(name)
    token = get_token()
    device = str(resolve_device(config.device))
    app = create_app(config, token, device=device)
    jobs = app.extensions["imageprotector.jobs"]
    listen = _listen(config.port)
    _allow_open_files(config.connection_limit + 100)
    body_cap = config.max_upload + 2**20  # waitress's cap sits above Flask's: an oversized upload gets our JSON 413
    activity = _Activity(app)
    try:
        server = create_server(
            activity, listen=listen, threads=config.threads, ident="imageprotector", max_request_body_size=body_cap,
            inbuf_overflow=body_cap,  # bodies stay in memory up to the cap: never in a temporary file
            connection_limit=config.connection_limit,
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
            channel_timeout=BODY_IDLE_TIMEOUT, cleanup_interval=BODY_IDLE_TIMEOUT / 3,
        )
    except OSError as exc:
        from companion.engine.errors import ProtectError

        jobs.stop()
        raise ProtectError("port_in_use", f"cannot listen on port {config.port}: {exc.strerror or exc}") from None
    guard(server, config, token)

    def stop(signum: int, frame) -> None:
        for sig in STOP_SIGNALS:  # a second signal must not interrupt the clean stop
            signal.signal(sig, signal.SIG_IGN)
        log.info("stopping (%s)", signal.Signals(signum).name)
        jobs.cancel_all()
        raise SystemExit(0)  # waitress's loop ends on it and shuts its threads down

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    if config.idle_exit > 0:
        threading.Thread(target=_exit_when_idle, args=(activity, jobs, config.idle_exit * 60), daemon=True).start()
    log.info("imageprotector companion listening on %s (models %s, device %s)", listen, ",".join(config.models),
                device)
    stop_beside = beside(config, token) if beside is not None else None
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass  # a signal before or after the loop: the same clean stop
    finally:
        if stop_beside is not None:
            stop_beside()
        jobs.stop()
        wasyncore.close_all(server.map if hasattr(server, "map") else server._map)
        log.info("imageprotector companion stopped")


class _Activity:
    """The application, noting when the last request came (for --idle-exit)."""

    def __init__(self, app) -> None:
        self.app = app
        self.last = time.monotonic()

    def __call__(self, environ, start_response):
        self.last = time.monotonic()
        return self.app(environ, start_response)


def _exit_when_idle(activity: _Activity, jobs, seconds: float) -> None:
    """Stop the server (as SIGTERM does) once nothing has been asked or run for `seconds`."""
    while True:
        time.sleep(min(5.0, seconds / 4))
        if jobs.running is not None or jobs.queue_length:
            activity.last = time.monotonic()
        elif time.monotonic() - activity.last >= seconds:
            log.info("idle for %.0f s: exiting (--idle-exit)", seconds)
            signal.raise_signal(signal.SIGTERM)
            return


#: seconds a connection may sit with no byte of its request body arriving
BODY_IDLE_TIMEOUT = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _allow_open_files(count: int) -> None:
    """Raise the soft limit on open files to `count` where it is lower and the hard limit allows
    (many Linux sessions start at 1024), so the connection limit is what limits connections."""
    try:
        import resource
    except ImportError:  # Windows: no such limit for sockets
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as exc:
            log.info("cannot raise the open-file limit from %d: %s", soft, exc)
