"""Each model's share of an ensemble's step: by progress, and none for a model out of reach."""

from __future__ import annotations

import pytest

from companion.engine.balance import OUT_OF_REACH, Balance


def run(balance: Balance, losses: list[float], steps: range) -> list[float]:
    """The weights after feeding the same losses for each of `steps`."""
    weights: list[float] = []
    for step in steps:
        weights = balance.weights(losses, step)
    return weights


def test_all_weigh_the_same_at_first_and_a_model_that_already_refuses_steps_aside():
    balance = Balance(["demo", "qwen"], patience=80)
    assert balance.weights([2.0, 0.5], 1) == [1.0, 1.0]  # their own first losses are the yardstick
    weights = balance.weights([0.02, 0.5], 2)  # the demo's loss fell to 1% of its first, Qwen's stayed
    assert weights == pytest.approx([2 * 0.01 / 1.01, 2 * 1.0 / 1.01])


def test_a_model_the_budget_cannot_move_leaves_the_step_to_the_others_after_patience():
    balance = Balance(["demo", "qwen", "phi4"], patience=80)
    balance.weights([1.0, 1.0, 1.0], 1)
    before = run(balance, [0.05, 0.9, 0.3], range(2, 80))  # Qwen hardly moves, Phi-4 is near its line
    assert before[1] > before[2] > before[0]  # until then the stuck model takes the most
    assert balance.out == [False, False, False]
    after = balance.weights([0.05, 0.9, 0.3], 80)
    assert balance.out == [False, True, False]
    assert after == pytest.approx([2 * 0.05 / 0.35, 0.0, 2 * 0.3 / 0.35])


def test_out_of_reach_is_judged_on_the_smoothed_loss_not_one_step():
    balance = Balance(["demo", "phi4"], patience=40)
    balance.weights([1.0, 1.0], 1)
    for step in range(2, 200):  # Phi-4's loss jumps from step to step, as under a site's random views
        balance.weights([0.02, 0.9 if step % 4 == 0 else 0.2], step)
    assert balance.smoothed[1] < OUT_OF_REACH
    assert balance.out == [False, False]


def test_once_out_of_reach_a_model_stays_out():
    balance = Balance(["demo", "qwen"], patience=5)
    balance.weights([1.0, 1.0], 1)
    run(balance, [0.2, 0.95], range(2, 20))
    assert balance.out == [False, True]
    # its loss falling now (moved by the others' steps) changes nothing
    assert run(balance, [0.1, 0.2], range(20, 40)) == [1.0, 0.0]


def test_a_slow_model_keeps_the_step_when_the_others_refuse_already():
    balance = Balance(["demo", "qwen", "phi4"], patience=40)
    balance.weights([1.0, 1.0, 1.0], 1)
    weights = run(balance, [0.03, 0.04, 0.8], range(2, 200))  # Phi-4 short of its line, the others past theirs
    assert balance.out == [False, False, False]
    assert weights == pytest.approx([3 * 0.03 / 0.87, 3 * 0.04 / 0.87, 3 * 0.8 / 0.87])


def test_while_none_is_in_reach_all_keep_their_weights():
    balance = Balance(["demo", "qwen"], patience=5)
    balance.weights([1.0, 1.0], 1)
    weights = run(balance, [0.8, 0.6], range(2, 30))
    assert balance.out == [False, False]
    assert weights == pytest.approx([2 * 0.8 / 1.4, 2 * 0.6 / 1.4])


def test_without_patience_no_model_is_ever_out_of_reach():
    balance = Balance(["demo", "qwen"], patience=None)
    balance.weights([1.0, 1.0], 1)
    assert run(balance, [0.01, 1.0], range(2, 300)) == pytest.approx([2 * 0.01 / 1.01, 2 * 1.0 / 1.01])
    assert balance.out == [False, False]


def test_a_second_gradient_of_the_same_step_is_not_counted_again():
    counted, once = Balance(["demo", "qwen"], patience=None), Balance(["demo", "qwen"], patience=None)
    for balance in (counted, once):
        balance.weights([1.0, 1.0], 1)
    counted.weights([0.1, 1.0], 2)
    once.weights([0.1, 1.0], 2)
    once.weights([0.1, 1.0], 2, track=False)  # the whole frame's gradient at the same step
    assert once.smoothed == counted.smoothed
