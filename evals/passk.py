"""pass^k and pass@k over repeated trials, with bootstrap confidence intervals and run comparison.

For a task tried n times with c successes:

- pass^k ("pass hat k", tau-bench): C(c, k) / C(n, k), the chance that k trials drawn without
  replacement from the n all succeed; the reliability of an agent that must succeed every time.
- pass@k (Codex): 1 - C(n - c, k) / C(n, k), the chance that at least one of k drawn trials
  succeeds; the capability of an agent allowed k tries.

Both are averaged over tasks, for k = 1..n. Every task must have the same n (tau-bench's rule);
anything else raises ``PassKInputError``. A trial outcome is a bool, or a reward counted as a
success when it is 1 within 1e-6 (tau-bench's rule).

Uncertainty comes from a percentile bootstrap over tasks (tasks resampled with replacement,
trials kept as they are) with a seeded ``random.Random``: the same inputs and seed give the same
interval on every run. ``compare_runs`` pairs two runs by task id and bootstraps the difference.

Not done here: running tasks, storing results, plotting. Pure stdlib.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any, Literal

from agentspec.errors import AgentSpecError

__all__ = [
    "PassKInputError", "Metric", "pass_hat_k", "pass_at_k", "trial_counts", "bootstrap_ci",
    "summarize", "compare_runs",
]

Metric = Literal["pass_hat", "pass_at"]
_METRIC_KEYS = {"pass_hat": "pass_hat_k", "pass_at": "pass_at_k"}


class PassKInputError(AgentSpecError, ValueError):
    """Trial results that cannot give pass^k: no tasks, unequal trial counts, k out of range."""

    code = "passk_input"


# ---- Point estimates --------------------------------------------------------------------------

def _check_k(n_trials: int, k: int) -> None:
    if not 1 <= k <= n_trials:
        raise PassKInputError(f"k={k} is outside 1..{n_trials} (the number of trials per task)",
                              hint="pass^k and pass@k need k trials out of the n run")


def _task_value(c: int, n: int, k: int, metric: Metric) -> float:
    # Per-task estimate from c successes in n trials; math.comb(a, b) is 0 when b > a.
    if metric == "pass_hat":
        return comb(c, k) / comb(n, k)
    if metric == "pass_at":
        return 1.0 - comb(n - c, k) / comb(n, k)
    raise PassKInputError(f"unknown metric {metric!r}", hint="use 'pass_hat' or 'pass_at'")


def _validated(per_task_successes: Sequence[int], n_trials: int, k: int) -> list[int]:
    if not per_task_successes:
        raise PassKInputError("no tasks", hint="run at least one task")
    _check_k(n_trials, k)
    counts = [int(c) for c in per_task_successes]
    bad = [c for c, raw in zip(counts, per_task_successes) if not 0 <= c <= n_trials or c != raw]
    if bad:
        raise PassKInputError(f"success counts {bad[:5]} are not whole numbers in 0..{n_trials}",
                              hint="a task cannot succeed more often than it was tried")
    return counts


def pass_hat_k(per_task_successes: Sequence[int], n_trials: int, k: int) -> float:
    """tau-bench's pass^k: mean over tasks of C(c, k) / C(n, k)."""
    counts = _validated(per_task_successes, n_trials, k)
    return sum(_task_value(c, n_trials, k, "pass_hat") for c in counts) / len(counts)


def pass_at_k(per_task_successes: Sequence[int], n_trials: int, k: int) -> float:
    """pass@k: mean over tasks of 1 - C(n - c, k) / C(n, k)."""
    counts = _validated(per_task_successes, n_trials, k)
    return sum(_task_value(c, n_trials, k, "pass_at") for c in counts) / len(counts)


def _is_success(outcome: Any) -> bool:
    if isinstance(outcome, bool):
        return outcome
    if isinstance(outcome, (int, float)):
        return abs(outcome - 1.0) <= 1e-6  # tau-bench: a reward of 1 is a success
    raise PassKInputError(f"trial outcome {outcome!r} is neither a bool nor a reward",
                          hint="record each trial as True/False (or its reward)")


def trial_counts(results: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[int], int]:
    """``{task_id: [outcome per trial]}`` -> (task ids, success counts, trials per task)."""
    if not results:
        raise PassKInputError("no tasks in the results", hint="run at least one task")
    lengths = Counter(len(trials) for trials in results.values())
    if len(lengths) != 1:
        usual = lengths.most_common(1)[0][0]
        odd = [tid for tid, trials in results.items() if len(trials) != usual]
        raise PassKInputError(f"tasks have different numbers of trials {dict(lengths)}; "
                              f"for example {odd[:3]}",
                              hint="rerun or drop the incomplete tasks so every task has n trials")
    n = next(iter(lengths))
    if n == 0:
        raise PassKInputError("tasks have zero trials", hint="run every task at least once")
    ids = list(results)
    return ids, [sum(_is_success(o) for o in results[tid]) for tid in ids], n


# ---- Bootstrap ------------------------------------------------------------------------------

def _quantile(sorted_values: Sequence[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default "linear" method).
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _resampled_means(values: Sequence[float], n_boot: int, rng: random.Random) -> list[float]:
    """Means of ``n_boot`` resamples (with replacement, same size) of ``values``.

    Per-task values take few distinct levels (n + 1 for one run), so each resample is counted by
    level instead of summed task by task: O(n_tasks) per resample either way, but cheaper.
    """
    levels = sorted(set(values))
    index_of = {v: i for i, v in enumerate(levels)}
    level_idx = [index_of[v] for v in values]
    m = len(values)
    means = []
    for _ in range(n_boot):
        hits = Counter(rng.choices(level_idx, k=m))
        means.append(sum(levels[i] * cnt for i, cnt in hits.items()) / m)
    return means


def _check_boot(n_boot: int, alpha: float) -> None:
    if n_boot < 1 or not 0 < alpha < 1:
        raise PassKInputError(f"n_boot={n_boot}, alpha={alpha}",
                              hint="use n_boot >= 1 and 0 < alpha < 1")


def bootstrap_ci(per_task_successes: Sequence[int], n_trials: int, k: int,
                 metric: Metric = "pass_hat", n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of pass^k (or pass@k) over resampled tasks."""
    counts = _validated(per_task_successes, n_trials, k)
    _check_boot(n_boot, alpha)
    values = [_task_value(c, n_trials, k, metric) for c in counts]
    means = sorted(_resampled_means(values, n_boot, random.Random(seed)))
    return _quantile(means, alpha / 2), _quantile(means, 1 - alpha / 2)


# ---- Reports ----------------------------------------------------------------------------------

def summarize(results: Mapping[str, Sequence[Any]], *, n_boot: int = 2000, alpha: float = 0.05,
              seed: int = 0) -> dict[str, Any]:
    """pass^k, pass@k and their bootstrap intervals for k = 1..n, JSON-ready (keys are str(k)).

    ``ci`` maps str(k) to ``{"pass_hat_k": [low, high], "pass_at_k": [low, high]}``.
    """
    _, counts, n = trial_counts(results)
    out: dict[str, Any] = {"n_tasks": len(counts), "trials": n, "pass_hat_k": {}, "pass_at_k": {},
                           "ci": {}, "alpha": alpha, "n_boot": n_boot, "seed": seed}
    for k in range(1, n + 1):
        out["pass_hat_k"][str(k)] = pass_hat_k(counts, n, k)
        out["pass_at_k"][str(k)] = pass_at_k(counts, n, k)
        out["ci"][str(k)] = {
            key: list(bootstrap_ci(counts, n, k, metric, n_boot=n_boot, alpha=alpha, seed=seed))
            for metric, key in _METRIC_KEYS.items()}
    return out


def compare_runs(a: Mapping[str, Sequence[Any]], b: Mapping[str, Sequence[Any]], *,
                 n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Run ``b`` against run ``a`` on their common tasks: differences are b - a.

    For each k in 1..min(n_a, n_b) and each metric: both values, the difference, its paired
    percentile-bootstrap interval (the same resampled tasks for both runs), and a two-sided
    p-value for "no difference" from inverting that interval,
    p = min(1, 2 * (min(#{d* <= 0}, #{d* >= 0}) + 1) / (n_boot + 1)).
    Identical runs give p = 1; the +1 keeps p above 0 for a finite number of resamples.
    """
    _check_boot(n_boot, alpha)
    common = [tid for tid in a if tid in b]
    if not common:
        raise PassKInputError("the two runs share no task id",
                              hint="compare runs of the same task suite")
    _, counts_a, n_a = trial_counts({tid: a[tid] for tid in common})
    _, counts_b, n_b = trial_counts({tid: b[tid] for tid in common})
    out: dict[str, Any] = {
        "n_common": len(common), "only_in_a": sorted(set(a) - set(b)),
        "only_in_b": sorted(set(b) - set(a)), "trials_a": n_a, "trials_b": n_b,
        "alpha": alpha, "n_boot": n_boot, "seed": seed, "pass_hat_k": {}, "pass_at_k": {}}
    m = len(common)
    for k in range(1, min(n_a, n_b) + 1):
        for metric, key in _METRIC_KEYS.items():
            va = [_task_value(c, n_a, k, metric) for c in counts_a]
            vb = [_task_value(c, n_b, k, metric) for c in counts_b]
            diffs = [y - x for x, y in zip(va, vb)]  # paired by task
            boot = sorted(_resampled_means(diffs, n_boot, random.Random(seed)))
            at_most_0 = sum(d <= 1e-12 for d in boot)  # tolerance: float sums of equal terms
            at_least_0 = sum(d >= -1e-12 for d in boot)
            p = min(1.0, 2 * (min(at_most_0, at_least_0) + 1) / (n_boot + 1))
            out[key][str(k)] = {
                "a": sum(va) / m, "b": sum(vb) / m, "diff": sum(diffs) / m,
                "ci": [_quantile(boot, alpha / 2), _quantile(boot, 1 - alpha / 2)],
                "p_value": p}
    return out
