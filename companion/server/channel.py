"""What waitress does with a connection before the application sees it, made safe for a
server that any local process and any web page can reach.

Two things waitress cannot be told by its settings alone:

- Refuse before the body. Waitress reads a request's whole body (up to its cap) before
  the application runs, so a page could make the server take in 64 MiB per request
  without a token. `GuardedParser` applies the application's own rule (auth.refusal: the
  Host and the bearer token) as soon as the header is complete, and answers with the same
  JSON error at once; the body is never read.
- Cut slow headers. Waitress closes connections that are idle for `channel_timeout`, but a
  client that sends one byte every few seconds is never idle, and 100 such clients used
  to fill every connection slot (slowloris). `GuardedChannel` closes a connection whose
  request header has not arrived within `header_timeout` seconds of the connection, or of
  the end of its previous request.

`guard(server, config, token)` puts both on a server made by `waitress.create_server`.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.utilities import Error

from companion.server.app import STATUS
from companion.server.auth import refusal
from companion.server.config import ServerConfig

log = logging.getLogger(__name__)


class Refused(Error):
    """A waitress error answered as our JSON error body (app.py's format and codes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error_code, self.code = code, STATUS[code]  # the status the application gives the code
        self.reason = HTTPStatus(self.code).phrase

    def to_response(self, ident=None):
        body = json.dumps({"error": {"code": self.error_code, "message": self.body}}).encode()
        headers = [("Content-Type", "application/json")]
        if self.error_code == "unauthorized":
            headers.append(("WWW-Authenticate", "Bearer"))
        return f"{self.code} {self.reason}", headers, body


def guarded_parser(config: ServerConfig, token: str) -> type[HTTPRequestParser]:
    """A request parser class that refuses by the application's rule once the header is in."""

    class GuardedParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            refused = refusal(self.command, self.path, self.headers.get("HOST"), self.headers.get("AUTHORIZATION"),
                              config.hosts, token)
            if refused is not None:
                code, message = refused
                self.error = Refused(code, message)
                self.completed = True  # answered now; the connection closes after the answer
                self.body_rcv = None

    return GuardedParser


def guarded_channel(config: ServerConfig, token: str) -> type[HTTPChannel]:
    """A channel class with the guarded parser and a deadline for each request header."""

    class GuardedChannel(HTTPChannel):
        parser_class = guarded_parser(config, token)

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.waiting_since = time.monotonic()  # when this connection began waiting for a header

        def readable(self) -> bool:
            now = time.monotonic()
            busy = self.requests or self.total_outbufs_len or (self.request is not None and
                                                               self.request.headers_finished)
            if busy:
                self.waiting_since = now
            elif now - self.waiting_since > config.header_timeout and not self.will_close:
                log.info("closing a connection whose request header took over %.0f s", config.header_timeout)
                self.will_close = True  # waitress closes it on its next pass
            return super().readable()

    return GuardedChannel


def guard(server, config: ServerConfig, token: str) -> None:
    """Give every listening socket of a waitress server (one, or a MultiSocketServer's) our channel."""
    channel = guarded_channel(config, token)
    listeners = [server] if isinstance(server, BaseWSGIServer) else list(server.map.values())
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = channel
