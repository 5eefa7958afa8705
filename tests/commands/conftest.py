"""The subcommands run in process on the session's demo model (loaded once)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _share_loaded_model(monkeypatch, demo_adapter):
    """Reuse the session's demo model instead of loading it again for every command."""
    from companion.models import registry

    def load(name, *args, **kwargs):
        registry.locate(name)  # the real name check: unknown names must still fail
        return demo_adapter

    monkeypatch.setattr("companion.models.registry.load_adapter", load)
