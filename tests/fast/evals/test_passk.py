"""pass^k / pass@k against hand-computed values, bootstrap intervals and run comparison."""
from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from agentspec.evals.passk import (
    PassKInputError,
    bootstrap_ci,
    compare_runs,
    pass_at_k,
    pass_hat_k,
    summarize,
    trial_counts,
)


def test_single_task_two_of_four():
    assert [pass_hat_k([2], 4, k) for k in range(1, 5)] == pytest.approx([0.5, 1 / 6, 0, 0])
    assert [pass_at_k([2], 4, k) for k in range(1, 5)] == pytest.approx([0.5, 5 / 6, 1, 1])


def test_mix_of_tasks_is_averaged():
    # c = 4, 0, 3 of n = 4: pass^k per task = C(c,k)/C(4,k); pass@k = 1 - C(4-c,k)/C(4,k).
    counts = [4, 0, 3]
    hat = [pass_hat_k(counts, 4, k) for k in range(1, 5)]
    at = [pass_at_k(counts, 4, k) for k in range(1, 5)]
    assert hat == pytest.approx([(1 + 0 + 3 / 4) / 3, (1 + 0 + 1 / 2) / 3,
                                 (1 + 0 + 1 / 4) / 3, 1 / 3])
    assert at == pytest.approx([(1 + 0 + 3 / 4) / 3, 2 / 3, 2 / 3, 2 / 3])


def test_pass_hat_k_is_the_chance_that_k_drawn_trials_all_succeed():
    # Brute force over every k-subset of trials, exact in fractions.
    rng = random.Random(3)
    runs = [[rng.random() < 0.6 for _ in range(5)] for _ in range(7)]
    counts = [sum(r) for r in runs]
    for k in range(1, 6):
        all_ok = sum(Fraction(sum(all(s) for s in itertools.combinations(r, k)),
                              len(list(itertools.combinations(r, k)))) for r in runs) / len(runs)
        any_ok = sum(Fraction(sum(any(s) for s in itertools.combinations(r, k)),
                              len(list(itertools.combinations(r, k)))) for r in runs) / len(runs)
        assert pass_hat_k(counts, 5, k) == pytest.approx(float(all_ok))
        assert pass_at_k(counts, 5, k) == pytest.approx(float(any_ok))


def test_input_errors():
    with pytest.raises(PassKInputError, match="no tasks"):
        pass_hat_k([], 4, 1)
    with pytest.raises(PassKInputError, match="k=5 is outside 1..4"):
        pass_hat_k([1], 4, 5)
    with pytest.raises(PassKInputError, match="k=0"):
        pass_at_k([1], 4, 0)
    with pytest.raises(PassKInputError, match="whole numbers in 0..4"):
        pass_hat_k([5], 4, 1)
    with pytest.raises(PassKInputError, match="whole numbers"):
        pass_hat_k([1.5], 4, 1)


def test_trial_counts_requires_equal_trials():
    ids, counts, n = trial_counts({"a": [True, False, True], "b": [False, False, False]})
    assert (ids, counts, n) == (["a", "b"], [2, 0], 3)
    with pytest.raises(PassKInputError, match="different numbers of trials") as info:
        trial_counts({"a": [True, True], "b": [True], "c": [False, True]})
    assert "'b'" in str(info.value) and info.value.hint
    with pytest.raises(PassKInputError, match="zero trials"):
        trial_counts({"a": []})
    with pytest.raises(PassKInputError, match="no tasks"):
        trial_counts({})


def test_rewards_count_as_success_only_at_one():
    _, counts, _ = trial_counts({"a": [1.0, 0.0, 0.9999999, 0.5], "b": [1, 0, True, False]})
    assert counts == [2, 2]
    with pytest.raises(PassKInputError, match="neither a bool nor a reward"):
        trial_counts({"a": ["yes"]})


def _counts(seed=0, n_tasks=60, n=4):
    rng = random.Random(seed)
    return [sum(rng.random() < p for _ in range(n))
            for p in (rng.random() for _ in range(n_tasks))]


def test_bootstrap_ci_contains_the_estimate_and_is_deterministic():
    counts = _counts()
    for metric, point_fn in (("pass_hat", pass_hat_k), ("pass_at", pass_at_k)):
        for k in range(1, 5):
            low, high = bootstrap_ci(counts, 4, k, metric=metric)
            assert 0 <= low <= point_fn(counts, 4, k) <= high <= 1
            assert low < high
            assert bootstrap_ci(counts, 4, k, metric=metric) == (low, high)
    assert bootstrap_ci(counts, 4, 1, seed=1) != bootstrap_ci(counts, 4, 1, seed=0)


def test_bootstrap_ci_width_behaves():
    counts = _counts()
    low, high = bootstrap_ci(counts, 4, 2)
    low10, high10 = bootstrap_ci(counts * 10, 4, 2)  # ten times the tasks: narrower
    assert high10 - low10 < (high - low) / 2
    low_a, high_a = bootstrap_ci(counts, 4, 2, alpha=0.5)  # 50% interval inside the 95% one
    assert low <= low_a <= high_a <= high
    assert bootstrap_ci([4, 4, 4], 4, 3) == (1.0, 1.0)
    with pytest.raises(PassKInputError, match="n_boot"):
        bootstrap_ci(counts, 4, 1, alpha=1.5)
    with pytest.raises(PassKInputError, match="unknown metric"):
        bootstrap_ci(counts, 4, 1, metric="pass_hot")


def test_summarize():
    results = {"t1": [True, True, False, True], "t2": [False] * 4, "t3": [True] * 4}
    s = summarize(results, n_boot=500)
    assert (s["n_tasks"], s["trials"]) == (3, 4)
    assert list(s["pass_hat_k"]) == ["1", "2", "3", "4"]
    assert s["pass_hat_k"]["1"] == pytest.approx(7 / 12)
    assert s["pass_hat_k"]["4"] == pytest.approx(1 / 3)
    assert s["pass_at_k"]["2"] == pytest.approx(2 / 3)
    hats = [s["pass_hat_k"][str(k)] for k in range(1, 5)]
    ats = [s["pass_at_k"][str(k)] for k in range(1, 5)]
    assert hats == sorted(hats, reverse=True) and ats == sorted(ats)
    for k in map(str, range(1, 5)):
        for key in ("pass_hat_k", "pass_at_k"):
            low, high = s["ci"][k][key]
            assert low <= s[key][k] <= high
    assert summarize(results, n_boot=500) == s
    with pytest.raises(PassKInputError):
        summarize({"t1": [True], "t2": [True, False]})


def _run(counts, n=4):
    return {f"task{i}": [j < c for j in range(n)] for i, c in enumerate(counts)}


def test_compare_identical_runs():
    run = _run(_counts())
    cmp = compare_runs(run, run, n_boot=500)
    assert cmp["n_common"] == 60 and cmp["only_in_a"] == cmp["only_in_b"] == []
    for key in ("pass_hat_k", "pass_at_k"):
        assert list(cmp[key]) == ["1", "2", "3", "4"]
        for row in cmp[key].values():
            assert row["diff"] == 0 and row["a"] == row["b"]
            assert row["p_value"] == pytest.approx(1.0)
            assert row["ci"] == [0.0, 0.0]


def test_compare_very_different_runs():
    weak, strong = _run([0, 1] * 20), _run([4, 3] * 20)
    cmp = compare_runs(weak, strong, n_boot=1000)
    row = cmp["pass_hat_k"]["1"]
    assert row["a"] == pytest.approx(1 / 8) and row["b"] == pytest.approx(7 / 8)
    assert row["diff"] == pytest.approx(0.75)
    assert row["ci"][0] <= 0.75 <= row["ci"][1]
    assert row["p_value"] < 0.01
    reverse = compare_runs(strong, weak, n_boot=1000)
    assert reverse["pass_hat_k"]["1"]["diff"] == pytest.approx(-0.75)
    assert compare_runs(weak, strong, n_boot=1000) == cmp  # seeded


def test_compare_small_difference_is_not_significant():
    a = _counts(seed=5)
    b = list(a)
    assert a[0] == 0
    b[0] = 1  # one more success on one task out of 60
    row = compare_runs(_run(a), _run(b), n_boot=1000)["pass_hat_k"]["1"]
    assert row["diff"] == pytest.approx(0.25 / 60)
    assert row["ci"][0] <= 0 <= row["ci"][1]
    # The resampled difference is 0 exactly when that task is not drawn, with chance
    # (1 - 1/60)^60 ~ 0.36, and positive otherwise: two-sided p ~ 2 * 0.36.
    assert row["p_value"] == pytest.approx(2 * (1 - 1 / 60) ** 60, abs=0.08)


def test_compare_uses_common_tasks_only():
    a = {"x": [True, False], "y": [True, True], "only_a": [False, False]}
    b = {"x": [True, True], "y": [True, True], "only_b": [True, True, True]}
    cmp = compare_runs(a, b, n_boot=200)
    assert cmp["n_common"] == 2
    assert (cmp["only_in_a"], cmp["only_in_b"]) == (["only_a"], ["only_b"])
    assert cmp["pass_hat_k"]["1"]["diff"] == pytest.approx(0.25)
    with pytest.raises(PassKInputError, match="share no task"):
        compare_runs({"x": [True]}, {"y": [True]})
