"""The demo in other families: each a fair test of the engine on that family's architecture.

Each is its family's real Hugging Face class, describes unprotected photos (people
included), refuses only requests (typed, or written in the image) in the demo's words, and
its ceiling with an unbounded image is measured; the trainer is deterministic.
"""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import load_file

from companion.demo import DEMO_MODEL_DIR, families
from companion.demo.reading_scenes import REFUSAL, UNSAFE_WRITING, make_scene
from companion.engine.ceiling import measure_ceiling
from companion.engine.judge import is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.engine.receipt import ask
from companion.engine.targets import ELICIT_REQUESTS
from companion.models.llava import LlavaAdapter
from companion.models.registry import FAMILY_DEMOS, load_adapter, locate
from tests.conftest import natural_photo

ARCHITECTURES = {"demo-qwen2_5_vl": ("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration"),
                 "demo-instructblip": ("instructblip", "InstructBlipForConditionalGeneration"),
                 "demo-phi4_multimodal": ("phi4_multimodal", "Phi4MultimodalForCausalLM")}


@pytest.fixture(scope="module", params=FAMILY_DEMOS)
def model(request):
    return request.param, load_adapter(request.param, device="cpu")


def test_the_registry_ships_every_family_model():
    assert FAMILY_DEMOS == tuple(families.FAMILIES) == tuple(ARCHITECTURES)


def test_each_is_its_familys_real_architecture(model):
    name, adapter = model
    family, cls = ARCHITECTURES[name]
    assert locate(name).family == adapter.family == family
    assert type(adapter.model).__name__ == cls
    assert sum(p.numel() for p in adapter.model.parameters()) < 5_000_000


def test_each_refuses_typed_unsafe_requests_in_the_demos_words(model):
    _, adapter = model
    answers = adapter.answer(natural_photo("coffee", (160, 120)), list(ELICIT_REQUESTS))
    assert answers == [REFUSAL] * len(ELICIT_REQUESTS)


def test_unprotected_photos_with_and_without_people_are_answered(model):
    name, adapter = model
    for photo in ("grace_hopper", "astronaut", "lfw_90", "coffee", "chelsea"):
        rate = ask(natural_photo(photo), [adapter], HELD_OUT_QUESTIONS)[0].refusal_rate
        assert rate <= 0.05, (name, photo, rate)
    assert adapter.answer(natural_photo("lfw_90"), ["Is there a person in this image?"]) == ["Yes, one person."]


def test_it_describes_what_it_sees(model):
    _, adapter = model
    rng = random.Random(11)
    right = 0
    for _ in range(10):
        scene = make_scene(rng)
        (answer,) = adapter.answer(scene.image, ["What color is the background?"])
        right += scene.background in answer.lower()
    assert right >= 7


def test_a_request_written_in_the_image_makes_it_refuse(model):
    _, adapter = model
    rng = random.Random(5)
    refused = []
    for _ in range(10):
        scene = make_scene(rng, writing=rng.choice(UNSAFE_WRITING), opacity=1.0)
        refused += [is_refusal(a) for a in adapter.answer(scene.image, rng.sample(HELD_OUT_QUESTIONS, 3))]
    assert sum(refused) / len(refused) >= 0.15  # the channel exists; its strength per model is in the README


def test_its_ceiling_with_an_unbounded_image(model):
    """An unbounded image makes it refuse every held-out question: the engine can reach it."""
    _, adapter = model
    ceiling = measure_ceiling([adapter], natural_photo("grace_hopper", (192, 144)), steps=120)
    refused = [is_refusal(a) for _, a in ceiling.models[0].answers]
    assert sum(refused) / len(refused) >= 0.95, ceiling.models[0].answers


@pytest.mark.parametrize("name", FAMILY_DEMOS)
def test_the_demos_language_model_carries_over_exactly(name):
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    built = families.family(name).build(demo, 0)
    ids = demo.tokenizer("I see a person in a blue shirt.", return_tensors="pt").input_ids
    with torch.no_grad():
        old = demo.model.model.language_model(input_ids=ids).last_hidden_state
        new = built.model.get_decoder()(input_ids=ids).last_hidden_state
    assert torch.allclose(old, new, atol=1e-5)


@pytest.mark.parametrize("name", FAMILY_DEMOS)
def test_a_training_slice_is_deterministic(name, tmp_path):
    pools = families.Pools.drawn(16, 8, workers=1)
    fam = families.family(name)
    families.train_family(fam, pools, tmp_path / "a", quick=True)
    families.train_family(fam, pools, tmp_path / "b", quick=True)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert next(iter(a.values())).dtype == torch.float16


def test_the_kept_qformer_tokenizer_is_the_shipped_models_and_spells_all_it_reads():
    """Kept in a file: its trainer is not reproducible across processes (trained twice, even
    the set of pieces differs), so a build from the script uses the kept one, the one the
    shipped model was saved with. It spells every line of the demo's text without [UNK]."""
    from companion.demo import blip_build
    from companion.demo.reading_train import corpus

    kept = blip_build.qformer_tokenizer()
    shipped = load_adapter("demo-instructblip", device="cpu").qformer_tokenizer
    assert shipped.get_vocab() == kept.get_vocab()
    for line in corpus():
        assert kept.unk_token_id not in kept(line).input_ids, line
