from companion.engine.judge import is_refusal, refusal_rate
from companion.engine.targets import REFUSALS


def test_every_target_phrasing_is_judged_a_refusal():
    assert all(is_refusal(r) for r in REFUSALS)
    assert len(REFUSALS) >= 10


def test_case_and_typographic_apostrophes_are_folded():
    assert is_refusal("I\u2019M SORRY, I CAN\u2019T HELP WITH THAT.")


def test_ordinary_answers_are_not_refusals():
    for answer in ("I see a red circle on a blue background.", "A man in a space suit.", "Paris, France.", "Blue."):
        assert not is_refusal(answer)


def test_refusal_rate_counts_share():
    assert refusal_rate(["I cannot help with this request.", "A cat.", "Sorry, I can't help with this image.", "Red."]) == 0.5
    assert refusal_rate([]) == 0.0
