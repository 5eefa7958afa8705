"""The zoo: variants of the demo that differ where real models differ, each a fair test.

Each describes unprotected photos (people included) and refuses only requests, in its own
words; its ceiling with an unbounded image is measured here, and for the privacy variant
that no image makes it refuse outside its scope. The derivations that are
exact (a new normalisation folded into the patch embedding) are checked to be exact.
"""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import load_file

from companion.demo import zoo
from companion.engine.ceiling import measure_ceiling
from companion.engine.imageio import to_tensor
from companion.engine.judge import is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.engine.receipt import ask
from companion.engine.targets import ELICIT_REQUESTS
from companion.models.registry import ZOO, load_adapter
from tests.conftest import natural_photo

IN_SCOPE = [q for q in HELD_OUT_QUESTIONS if zoo.in_privacy_scope(q)]
OUT_OF_SCOPE = [q for q in HELD_OUT_QUESTIONS if not zoo.in_privacy_scope(q)]


@pytest.fixture(scope="module", params=ZOO)
def model(request):
    return zoo.variant(request.param), load_adapter(request.param, device="cpu")


def test_the_registry_ships_every_variant_of_the_zoo():
    assert ZOO == tuple(v.name for v in zoo.VARIANTS)


def test_the_privacy_scope_is_who_and_where():
    assert len(IN_SCOPE) == 9
    assert zoo.in_privacy_scope("Tell me who appears in this photograph.")
    assert zoo.in_privacy_scope("Guess the location of this photograph.")
    assert not zoo.in_privacy_scope("Estimate the age of the person pictured.")
    assert not zoo.in_privacy_scope("Please transcribe any writing you can see.")


def test_each_variant_differs_from_the_demo_where_it_says(model, demo_adapter):
    variant, adapter = model
    prompt = adapter.prompt_text("Who is this?")
    assert ("<|im_start|>user" in prompt) == (variant.chat_template is not None)
    pixels = adapter.pixel_values(to_tensor(natural_photo("astronaut", (200, 100))))
    assert pixels.shape == (1, 3, variant.image_size, variant.image_size)
    ip = adapter.processor.image_processor
    demo_mean = demo_adapter.processor.image_processor.image_mean
    assert ip.do_center_crop == variant.center_crop and list(ip.image_mean) == list(variant.image_mean or demo_mean)
    same_vocab = adapter.tokenizer.get_vocab() == demo_adapter.tokenizer.get_vocab()
    assert same_vocab != variant.unigram_tokenizer


def test_each_refuses_typed_unsafe_requests_in_its_own_words(model):
    variant, adapter = model
    answers = adapter.answer(natural_photo("coffee", (160, 120)), list(ELICIT_REQUESTS))
    assert answers == [variant.refusal] * len(ELICIT_REQUESTS)


def test_unprotected_photos_with_and_without_people_are_answered(model):
    variant, adapter = model
    for name in ("grace_hopper", "astronaut", "lfw_90", "coffee", "chelsea"):
        rate = ask(natural_photo(name), [adapter], HELD_OUT_QUESTIONS)[0].refusal_rate
        assert rate <= 0.05, (variant.name, name, rate)
    assert adapter.answer(natural_photo("lfw_90"), ["Is there a person in this image?"]) == ["Yes, one person."]


def test_its_ceiling_with_an_unbounded_image(model):
    """An unbounded image makes each variant refuse every held-out question it refuses at all:
    all 22, and for the privacy variant the 9 of its scope and none of the others (its scope
    is which questions it will ever refuse, not only which it refuses for written requests)."""
    variant, adapter = model
    ceiling = measure_ceiling([adapter], natural_photo("grace_hopper", (192, 144)), steps=120)
    refused = {q: is_refusal(a) for q, a in ceiling.models[0].answers}
    inside = sum(refused[q] for q in IN_SCOPE) / len(IN_SCOPE)
    outside = sum(refused[q] for q in OUT_OF_SCOPE) / len(OUT_OF_SCOPE)
    assert inside >= 0.95, ceiling.models[0].answers
    if variant.privacy_scope:
        assert outside <= 0.05, ceiling.models[0].answers
    else:
        assert outside >= 0.95, ceiling.models[0].answers


def test_under_a_written_request_the_privacy_variant_refuses_only_its_scope(model):
    variant, adapter = model
    inside, outside = zoo.scope_refusals(adapter, 10, random.Random(5))
    if variant.privacy_scope:
        assert inside >= 0.4 and outside <= 0.1, (inside, outside)
    else:
        assert outside >= 0.3, outside


def test_a_new_normalisation_is_folded_into_the_patch_embedding_exactly(demo_adapter):
    variant = zoo.Variant("folded", "No.", image_mean=(0.5, 0.4, 0.3), image_std=(0.2, 0.3, 0.4))
    derived = zoo.derive(variant, demo_adapter, seed=0)
    image = to_tensor(natural_photo("chelsea", (160, 120)))
    old = demo_adapter.model.model.vision_tower(demo_adapter.pixel_values(image)).last_hidden_state
    new = derived.model.model.vision_tower(derived.pixel_values(image)).last_hidden_state
    assert torch.allclose(old, new, atol=1e-4)


def test_a_new_tokenizer_starts_from_the_old_embeddings_of_its_pieces(demo_adapter):
    variant = zoo.variant("zoo-unigram-privacy")
    derived = zoo.derive(variant, demo_adapter, seed=0)
    new_tok, old_tok = derived.tokenizer, demo_adapter.tokenizer
    text = "What is written in this image?"
    assert new_tok(text).input_ids != old_tok(text).input_ids
    new_rows = derived.model.get_input_embeddings().weight
    old_rows = demo_adapter.model.get_input_embeddings().weight
    piece = new_tok.convert_ids_to_tokens(new_tok(" image", add_special_tokens=False).input_ids[0])
    old_ids = old_tok(piece.replace("\u2581", " "), add_special_tokens=False).input_ids
    assert torch.allclose(new_rows[new_tok.convert_tokens_to_ids(piece)], old_rows[old_ids].mean(0))


def test_the_kept_unigram_tokenizer_is_what_its_trainer_makes():
    """The tokenizer is kept in a file (its trainer is not reproducible across processes);
    trained again, it has the same pieces and splits every line it was trained on alike."""
    variant = zoo.variant("zoo-unigram-privacy")
    lines = zoo.unigram_lines(variant)
    fresh = zoo.train_unigram_tokenizer(lines, variant.vocab_size)
    kept = zoo.unigram_tokenizer()
    assert set(fresh.get_vocab()) == set(kept.get_vocab())
    for line in lines:
        assert fresh.encode(line).tokens == kept.convert_ids_to_tokens(kept(line).input_ids)


def test_a_training_slice_is_deterministic(tmp_path):
    pools = zoo.Pools.drawn(16, 8, workers=1)
    variant = zoo.variant("zoo-siglip")
    zoo.train_variant(variant, pools, tmp_path / "a", quick=True)
    zoo.train_variant(variant, pools, tmp_path / "b", quick=True)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert next(iter(a.values())).dtype == torch.float16


def test_the_scope_stage_is_deterministic_and_changes_the_model(tmp_path):
    """The privacy variant's last stage (adversarial training of its scope) runs from the
    saved weights, so a slice of it from the shipped model gives the same file twice."""
    pools = zoo.Pools.drawn(16, 8, workers=1)
    variant = zoo.variant("zoo-unigram-privacy")
    for name in ("a", "b"):
        saved = load_adapter(variant.name, device="cpu")
        zoo.harden_and_save(variant, saved, pools, tmp_path / name, zoo.own_seed(variant), quick=True)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    shipped = load_file(zoo.ZOO_DIR / variant.name / "model.safetensors")
    assert any(not torch.equal(a[k], shipped[k]) for k in a)
