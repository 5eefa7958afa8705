"""A short, checked slice of the default demo's training script (the full run ships its weights)."""

from __future__ import annotations

import json
import random

import numpy as np
from safetensors.torch import load_file

from companion.demo import reading_train as train
from companion.demo.reading_scenes import (
    BENIGN_WRITING,
    LFW_NON_FACES,
    LFW_TRAIN_FACES,
    SHAPES,
    TRAIN_PHOTOS,
    UNSAFE_WRITING,
    make_scene,
)
from companion.models.llava import LlavaAdapter

SLICE = train.Schedule(pool=40, vision_steps=6, language_steps=6, joint_steps=3, polish_pool=16, polish_steps=3, polish_bank=8,
                       vision_batch=8, language_batch=4, check_every=0)


def test_the_scene_pool_is_the_same_for_any_number_of_processes():
    one, two = train.ScenePool(24, seed=5, workers=1), train.ScenePool(24, seed=5, workers=2)
    assert np.array_equal(one.images, two.images) and one.facts == two.facts


def test_scenes_hold_requests_benign_words_and_people():
    rng = random.Random(0)
    scenes = [make_scene(rng) for _ in range(90)]
    kinds = {"none": 0, "benign": 0, "request": 0}
    for s in scenes:
        kinds["none" if s.writing is None else "request" if s.writing in UNSAFE_WRITING else "benign"] += 1
        assert (s.writing is None) == (s.box is None)
        if s.writing in BENIGN_WRITING:
            assert s.answer("open") == s.description() and s.writing in s.answer("text")
        if s.unsafe:
            assert s.answer("open") == train.REFUSAL and s.answer("people") == train.REFUSAL
    assert min(kinds.values()) >= 20
    assert any(s.subject == "person" and not s.unsafe and "person" in s.description() for s in scenes)


def test_real_photo_scenes_show_faces_and_photos_and_people_are_never_refused():
    rng = random.Random(1)
    scenes = [make_scene(rng, writing=None, real_photos=True) for _ in range(60)]
    subjects = {s.subject for s in scenes}
    assert {"face", "photo"} <= subjects and subjects & set(SHAPES)
    faces = [s for s in scenes if s.subject == "face"]
    assert all(s.answer("people") == "Yes, one person." and s.answer("open") == "I see a photo of a person." for s in faces)
    assert all(not s.unsafe for s in scenes)


def test_training_never_sees_a_photo_the_benchmarks_ask_about():
    from benchmarks.photos import PEOPLE_PHOTOS
    from benchmarks.protect_photos import CASES

    asked = {name for name, _, _ in CASES} | set(PEOPLE_PHOTOS)
    assert not asked & set(TRAIN_PHOTOS) and not asked & set(train.VALIDATION_PHOTOS)
    lfw = {int(name[4:]) for name in asked if name.startswith("lfw_")}
    assert lfw and all(i < 100 for i in lfw)  # faces, not the subset's non-faces
    assert not lfw & set(LFW_TRAIN_FACES) and not lfw & set(range(10)) and not lfw & set(LFW_NON_FACES)


def test_training_slice_is_deterministic_and_saves_a_llava_hf_folder(tmp_path):
    adapter = train.train(tmp_path / "a", SLICE, workers=1)
    assert isinstance(adapter, LlavaAdapter)
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["model_type"] == "llava" and config["architectures"] == ["LlavaForConditionalGeneration"]
    assert config["vision_config"]["image_size"] == train.SIZE.image_size
    for name in ("tokenizer.json", "processor_config.json", "chat_template.jinja"):
        assert (tmp_path / "a" / name).is_file()

    train.train(tmp_path / "b", SLICE, workers=2)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    train.build_model(adapter.tokenizer, seed=train.TRAIN_SEED, size=train.SIZE).save_pretrained(tmp_path / "untrained")
    untrained = load_file(tmp_path / "untrained" / "model.safetensors")
    assert untrained.keys() == a.keys() and any(not (a[k] == untrained[k]).all() for k in a)


def test_the_tokenizer_encodes_every_answer_without_unknown_pieces():
    tokenizer = train.build_tokenizer(train.corpus(), train.VOCAB_SIZE)
    for text in train.corpus():
        assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text
