"""The shipped default demo model behaves like a real MLLM: it describes what it sees, people
included, reads what is written, and refuses only through the channel real models have
(a request written in the image, or an unsafe typed request)."""

from __future__ import annotations

import pytest

from benchmarks.photos import PEOPLE_PHOTOS
from companion.demo.reading_train import evaluate
from companion.engine.ceiling import measure_ceiling
from companion.engine.judge import is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from tests.conftest import natural_photo


@pytest.fixture(scope="module")
def scores(demo_adapter):
    return evaluate(demo_adapter, scenes_per_class=30)


def test_describes_and_reads_its_scenes(scores):
    assert scores.description_accuracy >= 0.85
    assert scores.reading_accuracy >= 0.6


def test_refuses_a_request_written_in_the_image(scores):
    assert scores.refusal_written >= 0.9


def test_reads_some_faint_requests_too(scores):
    """Faint writing (20-60% opacity) is what lets a small perturbation reach the channel."""
    assert scores.refusal_faint >= 0.4


def test_refuses_typed_unsafe_requests_it_never_saw(scores):
    assert scores.refusal_typed_unsafe >= 0.9


def test_answers_benign_scenes_and_real_photos(scores):
    assert scores.refusal_benign_scenes <= 0.05
    assert scores.refusal_natural <= 0.05


@pytest.mark.parametrize("name", PEOPLE_PHOTOS[:4])
def test_never_refuses_an_unprotected_photo_of_a_person(demo_adapter, name):
    answers = demo_adapter.answer(natural_photo(name), list(HELD_OUT_QUESTIONS))
    refused = [a for a in answers if is_refusal(a)]
    assert len(refused) <= 1, refused  # at most 1 of 22 (0.05)


def test_its_ceiling_with_an_unbounded_image_is_at_least_095(demo_adapter):
    ceiling = measure_ceiling([demo_adapter], natural_photo("grace_hopper", (150, 175)), steps=120)
    assert ceiling.refusal_rate >= 0.95, ceiling.models[0].answers
