"""Refusal targets fitted to the model: its own words first, then the pool's likeliest."""

from __future__ import annotations

import random

import pytest

from companion.demo.face_scenes import make_scene
from companion.engine.imageio import to_tensor
from companion.engine.judge import is_refusal
from companion.engine.questions import SHADOW_QUESTIONS
from companion.engine.targets import REFUSALS, choose_targets, first_sentence
from tests.conftest import natural_photo

QUESTIONS = SHADOW_QUESTIONS[:4]


@pytest.mark.parametrize("answer, sentence", [
    ("I'm sorry, I can't help with that. Is there anything else", "I'm sorry, I can't help with that."),
    ("Nope! Not this one", "Nope!"),
    ("no full stop at all", "no full stop at all"),
])
def test_a_target_is_a_whole_first_sentence(answer, sentence):
    assert first_sentence(answer) == sentence


def test_the_likeliest_refusals_are_kept_and_ranked_by_their_loss(face_adapter):
    # the face demo finds many phrasings alike (within MARGIN of each other): three are kept
    choice = choose_targets(face_adapter, to_tensor(natural_photo("coffee", (160, 120))), QUESTIONS, keep=3)
    assert len(choice.targets) == 3 and set(choice.losses) >= set(REFUSALS)
    kept = [choice.losses[t] for t in choice.targets]
    dropped = [loss for t, loss in choice.losses.items() if t not in choice.targets]
    assert kept == sorted(kept) and max(kept) <= min(dropped)


def test_the_models_own_refusal_is_heard_when_it_refuses_the_request(face_adapter):
    # The face demo refuses anything asked about a photo with a face: that is when it speaks its own refusal.
    face = make_scene(random.Random(3), face=True, opacity=1.0).image
    choice = choose_targets(face_adapter, to_tensor(face), QUESTIONS)
    assert choice.elicited and all(is_refusal(t) for t in choice.elicited)
    assert all(t in choice.losses for t in choice.elicited)
    # Asked about a photo without a face it answers with a description: nothing is heard.
    clean = choose_targets(face_adapter, to_tensor(natural_photo("coffee", (160, 120))), QUESTIONS)
    assert clean.elicited == []


def test_phrasings_far_less_likely_than_the_best_are_not_taught(demo_adapter):
    image = to_tensor(natural_photo("coffee", (160, 120)))
    wide = choose_targets(demo_adapter, image, QUESTIONS, keep=11, margin=100.0, heard_margin=100.0)
    narrow = choose_targets(demo_adapter, image, QUESTIONS, keep=11, margin=0.05, heard_margin=0.05)
    best = wide.losses[wide.targets[0]]
    assert len(wide.targets) == 11 and narrow.targets[0] == wide.targets[0]
    assert all(narrow.losses[t] <= best + 0.05 for t in narrow.targets) and len(narrow.targets) < 11


def test_a_model_with_one_habit_is_taught_its_own_words_alone(demo_adapter):
    """The default demo's refusal costs far less than any other phrasing: it alone is the target."""
    choice = choose_targets(demo_adapter, to_tensor(natural_photo("coffee", (160, 120))), QUESTIONS)
    assert choice.targets == ["I'm sorry, I can't help with that request."]


def test_a_heard_refusal_far_likelier_than_the_rest_is_taught_alone(demo_adapter):
    """With a wide margin for the pool, a phrasing the model was heard to give still keeps
    out candidates more than `heard_margin` above it."""
    image = to_tensor(natural_photo("coffee", (160, 120)))
    heard = choose_targets(demo_adapter, image, QUESTIONS, keep=11, margin=100.0, heard_margin=0.25)
    assert heard.elicited and heard.targets[0] in heard.elicited
    assert all(heard.losses[t] <= heard.losses[heard.targets[0]] + 0.25 for t in heard.targets)
    assert len(heard.targets) < len(choose_targets(demo_adapter, image, QUESTIONS, keep=11, margin=100.0,
                                                   heard_margin=100.0).targets)
