"""Run the companion under waitress on the loopback interface.

Why waitress: a production WSGI server in pure Python (no compiler, same behaviour on
Linux, macOS and Windows, where the companion runs as a user's background program),
multi-threaded so health and job polling are answered while a long job runs, with its
own limits on request size and connections, and able to listen on several sockets at
once (127.0.0.1 and ::1). Flask's development server is not meant to run for days; the
process-forking servers (gunicorn) do not run on Windows and would load the model once
per worker.
"""

from __future__ import annotations

import logging
import signal
import socket

from companion.server.app import create_app
from companion.server.auth import get_token
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


def serve(config: ServerConfig, threads: int = 8) -> None:
    """Serve until SIGINT or SIGTERM; the model is loaded by the worker (at start by default)."""
    from waitress import create_server

    from companion.models.registry import locate, resolve_device

    for name in config.models:  # a model that is not there is a start-up error, not a failed job later
        locate(name)
    token = get_token()
    device = str(resolve_device(config.device))
    app = create_app(config, token, device=device)
    listen = _listen(config.port)
    try:
        # waitress's own cap sits above Flask's, so an oversized upload gets our JSON 413
        server = create_server(app, listen=listen, threads=threads, ident="imageprotector",
                               max_request_body_size=config.max_upload + 2**20)
    except OSError as exc:
        from companion.engine.errors import ProtectError

        raise ProtectError("port_in_use", f"cannot listen on port {config.port}: {exc.strerror or exc}") from None

    def stop(signum, frame) -> None:
        log.info("stopping (signal %d)", signum)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    log.warning("imageprotector companion listening on %s (models %s, device %s)", listen, ",".join(config.models),
                device)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["imageprotector.jobs"].stop()
