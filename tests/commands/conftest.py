"""The subcommands run in process on the session's demo model (loaded once)."""

from __future__ import annotations

import pytest

from companion.models import registry

_LOADED: dict = {}
_REAL_LOAD = registry.load_adapter


@pytest.fixture(autouse=True)
def _share_loaded_model(monkeypatch, demo_adapter):
    """Reuse the session's demo model instead of loading it again for every command (other
    shipped models, for ensembles, are loaded once each)."""

    def load(name, *args, **kwargs):
        registry.locate(name)  # the real name check: unknown names must still fail
        if name == "demo":
            return demo_adapter
        if name not in _LOADED:
            _LOADED[name] = _REAL_LOAD(name, "cpu")
        return _LOADED[name]

    monkeypatch.setattr("companion.models.registry.load_adapter", load)
