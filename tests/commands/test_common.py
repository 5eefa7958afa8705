"""The options every subcommand shares."""

from __future__ import annotations

import argparse

import pytest

from companion.commands.common import add_model_options


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_model_options(p)
    return p


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_takes_one_gpu_of_several_by_number(device):
    assert parser().parse_args(["--device", device]).device == device


@pytest.mark.parametrize("device", ["tpu", "cuda:", "cuda:x", "gpu0"])
def test_an_unknown_device_is_refused_with_the_choices(device, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--device", device])
    assert "use auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err


@pytest.mark.parametrize("flag, wrapped", [([], 8), (["--checkpointing"], 0)])
def test_checkpointing_reaches_the_loaded_models(flag, wrapped, tmp_path, monkeypatch):
    from companion.commands.common import load_engine
    from companion.models.checkpointing import checkpoint_layers

    monkeypatch.setenv("IMAGEPROTECTOR_CONFIG_DIR", str(tmp_path))
    engine = load_engine(parser().parse_args(["--model", "demo", "--device", "cpu", *flag]))
    # a model already checkpointed has no layer left to wrap; the demo has 8
    assert [checkpoint_layers(a.model) for a in engine.adapters] == [wrapped]


@pytest.mark.parametrize("flag, config, offloaded", [
    ([], {}, False), (["--offload", "always"], {}, True), ([], {"offload": "always"}, True),
    (["--offload", "never"], {"offload": "always"}, False),
])
def test_the_offload_choice_reaches_the_loaded_ensemble(flag, config, offloaded, tmp_path, monkeypatch):
    import json

    import torch

    from companion.commands.common import load_engine
    from companion.models import registry

    from tests.commands.conftest import _REAL_LOAD

    monkeypatch.setenv("IMAGEPROTECTOR_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(registry, "load_adapter", _REAL_LOAD)  # models of its own: offloading changes them
    rule = registry.needs_offload  # the real rule, as if both models shared one 80 GiB GPU
    monkeypatch.setattr(registry, "needs_offload", lambda sizes, devices, mode="auto":
                        rule(sizes, [torch.device("cuda:0")] * len(devices), 80 * 2**30, mode))
    engine = load_engine(parser().parse_args(["--model", "demo", "--model", "demo-face", "--device", "cpu", *flag]))
    assert [a.host_weights is not None for a in engine.adapters] == [offloaded] * 2
