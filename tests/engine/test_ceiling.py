"""A model's ceiling, measured with an unbounded image."""

from __future__ import annotations

from companion.engine.ceiling import measure_ceiling
from tests.conftest import natural_photo


def test_the_demo_models_ceiling_is_reached_on_a_natural_photo(demo_adapter):
    ceiling = measure_ceiling([demo_adapter], natural_photo("coffee", (160, 120)), steps=60)
    assert ceiling.refusal_rate >= 0.95, ceiling.models[0].answers
    assert 1 <= ceiling.steps <= 60 and len(ceiling.models[0].answers) == 22


def test_the_ceiling_after_a_site_is_asked_of_the_sites_copy(demo_adapter):
    from companion.engine.sites import get_site

    ceiling = measure_ceiling([demo_adapter], natural_photo("coffee", (160, 120)), steps=60, site=get_site("instagram"))
    assert ceiling.refusal_rate >= 0.9, ceiling.models[0].answers
