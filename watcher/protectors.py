"""How the watcher gets a photo protected: through the companion's API, as a client of a
running (or auto-started) companion, or of the server it runs inside (`serve --watch`),
so every photo goes through the companion's one job queue."""

from __future__ import annotations

from companion.client import Companion, CompanionError, Result
from watcher.worker import ProtectFailed


class CompanionProtector:
    """`protect(data, name, mime, site)` through the companion on `port`."""

    def __init__(self, companion: callable, timeout: float | None = None) -> None:
        """`companion`: a factory for a client (so a restarted companion is found again)."""
        self.companion = companion
        self.timeout = timeout

    def __call__(self, data: bytes, name: str, mime: str, site: str | None) -> Result:
        fields = {"site": site} if site else {}
        try:
            return self.companion().protect(data, name, mime, deadline=self.timeout, **fields)
        except CompanionError as exc:
            raise ProtectFailed(exc.code, exc.message) from None
