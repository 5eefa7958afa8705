"""Server settings: defaults, then the config file, then environment variables, then flags.

The config file is `config.json` in the platform's user config folder (platformdirs:
`~/.config/imageprotector` on Linux, `~/Library/Application Support/imageprotector` on
macOS, `%APPDATA%\\imageprotector` on Windows), or in `$IMAGEPROTECTOR_CONFIG_DIR` when
set. Every component finds the port the same way (DESIGN.md): a flag beats
`IMAGEPROTECTOR_PORT`, which beats the file, which beats 8765.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from companion.engine.errors import ProtectError

log = logging.getLogger(__name__)

APP_NAME = "imageprotector"
DEFAULT_PORT = 8765
RESERVED_THREADS = 4  # request threads no synchronous caller may hold


def config_dir() -> Path:
    """The folder holding config.json (and the token file where no keyring works)."""
    override = os.environ.get("IMAGEPROTECTOR_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


#: config.json's `offload` (companion/models/offload.py's MODES; written out here so that reading
#: the config, as the native host does, never imports torch)
OFFLOAD_MODES = ("auto", "always", "never")


@dataclass
class ServerConfig:
    port: int = DEFAULT_PORT
    models: list[str] = field(default_factory=lambda: ["demo"])
    device: str = "auto"
    # recompute each layer's activations in the backward pass: a third more time per step,
    # much less GPU memory on big photos and big models, the same perturbation
    checkpointing: bool = False
    # an ensemble on one GPU: "auto" keeps its weights there together when they fit (offload.py's
    # rule), "always" rests each model's in host memory between its turns, "never" keeps them all
    offload: str = "auto"
    preload: bool = True  # load the models at start (False: on the first job; health says which)
    queue_size: int = 8  # jobs waiting (the running one not counted); more get 503 with Retry-After
    result_ttl: float = 600.0  # seconds a finished job and its file are kept
    result_bytes: int = 512 * 2**20  # most bytes of finished files kept at once (oldest dropped first)
    max_upload: int = 64 * 2**20  # largest request body
    max_pixels: int = 100_000_000  # largest declared pixel count, checked before decoding
    max_steps: int = 500  # the most attack steps a client may ask for
    threads: int = 16  # request threads; all but RESERVED_THREADS may wait on POST /v1/protect
    connection_limit: int = 500  # open connections at once (below select's 512 on Windows)
    # seconds a request's header may take to arrive, from the connection's start or the end of
    # its previous request (idle keep-alive included): slow clients are cut (channel.py)
    header_timeout: float = 10.0
    # minutes with no request and no job after which the server exits (0: never); the native
    # host starts companions with it, so that a model is not held in GPU memory for days
    idle_exit: float = 0.0
    # whether the native host (and the watcher) start a companion when none answers, and the
    # --idle-exit minutes such a companion gets
    autostart: bool = True
    autostart_idle_exit: float = 30.0
    # seconds the native host waits for one photo (queued and protected) before it answers
    # `timeout` and cancels the job, so a page is never left waiting on a stuck companion (0: no limit)
    photo_timeout: float = 900.0
    # the extension's own origins, e.g. "chrome-extension://<id>", "moz-extension://<uuid>"
    allowed_origins: list[str] = field(default_factory=list)
    # folders the watcher protects (`serve --watch`, `watch`): [{"path", "out_dir", "recursive", "site"}]
    watch: list[dict] = field(default_factory=list)
    # named ensembles, added to the built-in ones (models/registry.py PRESETS): {"name": [model, ...]}
    presets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sync_waiters(self) -> int:
        """How many POST /v1/protect calls may wait at once: the threads left after those kept
        for health, job state and cancel, which must answer whatever the waiting callers do."""
        return max(1, self.threads - RESERVED_THREADS)

    @property
    def hosts(self) -> set[str]:
        """Host header values the server answers to (its own loopback names, DNS rebinding guard)."""
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}"}


_ENV = {
    "port": ("IMAGEPROTECTOR_PORT", int),
    "device": ("IMAGEPROTECTOR_DEVICE", str),
    "models": ("IMAGEPROTECTOR_MODELS", lambda v: [m for m in v.split(",") if m]),
    "queue_size": ("IMAGEPROTECTOR_QUEUE_SIZE", int),
}


def load_config(path: Path | None = None, **flags) -> ServerConfig:
    """Defaults < config file < environment < `flags` (None values in flags are ignored)."""
    config = ServerConfig()
    path = path or config_dir() / "config.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProtectError("config", f"cannot read {path}: {exc}") from None
        known = {f.name for f in fields(ServerConfig)}
        unknown = set(data) - known
        if unknown:
            raise ProtectError("config", f"{path}: unknown settings {', '.join(sorted(unknown))}")
        config = replace(config, **data)
        log.info("settings from %s", path)
    for name, (var, parse) in _ENV.items():
        if os.environ.get(var):
            try:
                config = replace(config, **{name: parse(os.environ[var])})
            except ValueError:
                raise ProtectError("config", f"{var}={os.environ[var]!r} is not valid") from None
    config = replace(config, **{k: v for k, v in flags.items() if v is not None})
    if not 1 <= config.port <= 65535:
        raise ProtectError("config", f"port must be 1-65535, got {config.port}")
    if config.photo_timeout < 0:
        raise ProtectError("config", f"photo_timeout must be 0 (no limit) or a number of seconds, got {config.photo_timeout}")
    if config.idle_exit < 0:
        raise ProtectError("config", f"idle_exit must be 0 (never) or a number of minutes, got {config.idle_exit}")
    if config.offload not in OFFLOAD_MODES:
        raise ProtectError("config", f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {config.offload!r}")
    if config.threads <= RESERVED_THREADS:
        raise ProtectError("config", f"threads must be more than {RESERVED_THREADS}, got {config.threads}")
    return config
