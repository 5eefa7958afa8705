"""Finding models: the demo, local folders, Hugging Face ids, and clear errors."""

from __future__ import annotations

import pytest
import torch

from companion.demo import DEMO_MODEL_DIR
from companion.engine.errors import ProtectError
from companion.models import registry


def test_demo_is_found_inside_the_package():
    info = registry.locate("demo")
    assert info.path == DEMO_MODEL_DIR and info.family == "llava"
    assert (info.path / "model.safetensors").is_file()


def test_local_folder_is_accepted():
    assert registry.locate(str(DEMO_MODEL_DIR)).family == "llava"


def test_uncached_hub_id_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProtectError) as info:
        registry.locate("llava-hf/llava-1.5-7b-hf", allow_download=True)
    assert info.value.code == "model_not_found"
    assert "hf download llava-hf/llava-1.5-7b-hf" in info.value.message
    assert "\n" not in info.value.message


def test_unknown_name_and_unsupported_family(tmp_path):
    with pytest.raises(ProtectError) as info:
        registry.locate("no-such-model")
    assert info.value.code == "model_not_found"
    (tmp_path / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(ProtectError) as info:
        registry.locate(str(tmp_path))
    assert info.value.code == "unsupported_model"


def test_phi4s_remote_code_format_is_refused_with_what_to_use_instead(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "phi4mm"}')
    with pytest.raises(ProtectError) as info:
        registry.locate(str(tmp_path))
    assert info.value.code == "unsupported_model"
    assert "phi4_multimodal" in info.value.message and "remote-code" in info.value.message


def test_a_phi4_multimodal_folder_loads_with_its_adapter(tmp_path):
    from companion.demo import DEMO_MODEL_DIR, phi4_build
    from companion.models.llava import LlavaAdapter

    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    built = phi4_build.build(demo, seed=0)
    phi4_build.save(built, tmp_path)
    built.model.save_pretrained(tmp_path)
    adapter = registry.load_adapter(str(tmp_path), device="cpu")
    assert adapter.family == "phi4_multimodal" and adapter.vision == phi4_build.VISION
    assert adapter.encode([("Who is this?", "A cat.")]).input_ids.tolist() == \
        built.encode([("Who is this?", "A cat.")]).input_ids.tolist()


def test_device_and_dtype_choice():
    assert registry.resolve_device("cpu").type == "cpu"
    assert registry.default_dtype(torch.device("cpu")) == torch.float32
    assert registry.default_dtype(torch.device("cuda")) == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ProtectError):
            registry.resolve_device("cuda")
    with pytest.raises(ProtectError):
        registry.resolve_device("tpu")


def test_an_ensemble_spreads_over_several_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert registry.spread(3, "auto") == ["cuda:0", "cuda:1", "cuda:0"]
    assert registry.spread(2, "cpu") == ["cpu", "cpu"]
    assert registry.resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ProtectError) as info:
        registry.resolve_device("cuda:2")
    assert info.value.code == "device_unavailable"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert registry.spread(2, "auto") == ["auto", "auto"]


def test_every_shipped_model_names_its_family():
    families = {info.name: info.family for info in map(registry.locate, registry.SHIPPED)}
    assert families["demo"] == "llava"
    assert families["demo-qwen2_5_vl"] == "qwen2_5_vl"
    assert families["demo-instructblip"] == "instructblip"
    assert families["demo-phi4_multimodal"] == "phi4_multimodal"


def test_presets_expand_to_their_models_each_once():
    four = ["demo", "demo-qwen2_5_vl", "demo-instructblip", "demo-phi4_multimodal"]
    assert registry.expand(["demo-families"]) == four
    assert registry.expand(["demo", "demo-families"]) == four
    assert registry.expand(["strong"])[1] == "Qwen/Qwen2.5-VL-7B-Instruct"
    mine = {"mine": ["demo-face", "demo"], "fast": ["demo"]}  # the config's add to and override the built-in
    assert registry.expand(["mine", "fast"], mine) == ["demo-face", "demo"]
    assert registry.expand(["zoo-chatml"]) == ["zoo-chatml"]
