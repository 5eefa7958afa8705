"""The companion server: a local HTTP API over the engine, for the extension and the watcher.

`create_app(config)` builds the Flask application (app.py); `serve(config)` runs it under
waitress on the loopback interface (serve.py). The model is loaded once and owned by one
worker thread (jobs.py); every route but health needs the bearer token (auth.py).
"""

from companion.server.app import create_app
from companion.server.config import ServerConfig, load_config

__all__ = ["ServerConfig", "create_app", "load_config"]
