"""A short, checked slice of the face demo's training script (the full run ships its weights)."""

from __future__ import annotations

import json

from safetensors.torch import load_file

from companion.demo import face_train as train
from companion.models.llava import LlavaAdapter

SLICE = train.Schedule(vision_steps=12, language_steps=12, joint_steps=6, vision_batch=16, language_batch=8)


def test_training_slice_learns_and_is_deterministic(tmp_path, monkeypatch):
    losses = []
    real = train.optimise

    def spy(*args, **kwargs):
        loss = real(*args, **kwargs)
        losses.append(loss)
        return loss

    monkeypatch.setattr(train, "optimise", spy)
    adapter = train.train(tmp_path / "a", SLICE)
    assert isinstance(adapter, LlavaAdapter) and len(losses) == 3
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["model_type"] == "llava" and config["architectures"] == ["LlavaForConditionalGeneration"]
    for name in ("tokenizer.json", "processor_config.json", "chat_template.jinja"):
        assert (tmp_path / "a" / name).is_file()

    train.train(tmp_path / "b", SLICE)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    train.build_model(adapter.tokenizer, seed=train.TRAIN_SEED).save_pretrained(tmp_path / "untrained")
    untrained = load_file(tmp_path / "untrained" / "model.safetensors")
    assert untrained.keys() == a.keys()
    assert any(not (a[k] == untrained[k]).all() for k in a)


def test_training_losses_fall_within_the_slice(tmp_path, monkeypatch):
    """The QA loss after a short slice is far below the untrained model's (about ln(vocab))."""
    seen = []
    real = train.optimise

    def spy(params, lr, steps, batches, loss_fn, stage, *args):
        first = loss_fn(next(batches)).item()
        last = real(params, lr, steps, batches, loss_fn, stage, *args)
        seen.append((stage, first, last))
        return last

    monkeypatch.setattr(train, "optimise", spy)
    train.train(tmp_path / "m", train.Schedule(vision_steps=30, language_steps=40, joint_steps=2, vision_batch=16,
                                               language_batch=8))
    stages = {s: (first, last) for s, first, last in seen}
    assert stages["vision"][1] < stages["vision"][0]
    assert stages["language"][1] < 0.6 * stages["language"][0]
