"""The companion server: a local HTTP API over the engine, for the extension and the watcher.

`create_app(config)` builds the Flask application (app.py); `serve(config)` runs it under
waitress on the loopback interface (serve.py). The model is loaded once and owned by one
worker thread (jobs.py); every route but health needs the bearer token (auth.py).

Nothing is imported here: the token, the config and the native host's client must not pull
in the engine (torch) just by naming a module of this package.
"""
