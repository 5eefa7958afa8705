from companion.engine.questions import HELD_OUT_QUESTIONS, SHADOW_QUESTIONS


def test_sets_are_large_enough_and_disjoint():
    assert len(set(SHADOW_QUESTIONS)) >= 50
    assert len(set(HELD_OUT_QUESTIONS)) >= 20
    assert not set(SHADOW_QUESTIONS) & set(HELD_OUT_QUESTIONS)


def test_sets_probe_privacy():
    text = " ".join(SHADOW_QUESTIONS).lower()
    for topic in ("who", "where", "written", "job", "old", "health"):
        assert topic in text
