"""Tier 2: every script in ``benchmarks/`` runs in its smoke mode and ends with its JSON object.

A benchmark nothing runs rots (a private helper's signature changed and ``decoding.py`` crashed
unnoticed): CI runs each one here on a few cases. The figures of a smoke run mean nothing; what is
asserted is that the script finishes and its last line is the JSON object its docstring promises.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PROMISED = {
    "runtime.py": {"decode_ratio", "warm_ttft_ratio", "peak_rss_mb", "cache_mismatch_q8"},
    "decoding.py": {"constrained_ratio", "valid_constrained", "compile_p50_ms", "hallucinated_ids_grounded",
                    "bfcl_vs_bare"},
    "training.py": {"tokens_per_s_ratio", "ours_s", "plain_s"},
    "reliability.py": {"attack_conversations", "violations", "false_yes", "kills", "lost_turns", "duplicate_writes",
                       "fuzz_cases", "crashes", "holdout_false_yes", "holdout2_false_yes", "holdout2_accuracy",
                       "holdout3_false_yes", "holdout3_accuracy", "holdout4_false_yes", "holdout4_accuracy",
                       "holdout5_false_yes", "holdout5_accuracy", "holdout6_false_yes", "holdout6_accuracy",
                       "holdout7_false_yes", "holdout7_accuracy", "holdout8_false_yes", "holdout8_accuracy"},
    "server.py": {"conversations", "turns", "errors", "lost_messages", "p50_ms", "p95_ms", "turns_per_s",
                  "overhead_ratio", "rejected_429", "hung", "retry_after_ok"},
    "reader.py": {"shared_p50_ms", "unshared_p50_ms", "speedup_p50", "identical", "texts"},
    "memory.py": {"search_p50_ms_10k", "search_p99_ms_10k", "search_p50_ms_100k", "mem0_default_search_p50_ms_10k",
                  "search_speedup_vs_mem0_default", "add_p50_ms", "turn_overhead_p50_ms", "recall_agreement_at_5",
                  "leaks", "peak_rss_mb"},
}
# Counts of harm that must be 0 even in a smoke run (they are checks, not figures).
MUST_BE_ZERO = {"server.py": ("errors", "lost_messages", "hung"), "memory.py": ("leaks",)}
# Shares that must be whole even in a smoke run (the baseline and the measured path agree on every text).
MUST_BE_ONE = {"reader.py": ("identical",)}


def test_every_benchmark_script_is_covered():
    assert {p.name for p in BENCHMARKS.glob("*.py")} == set(PROMISED)


@pytest.mark.parametrize("script", sorted(PROMISED))
def test_benchmark_smoke_mode_ends_with_its_json(script, real_home, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--smoke", "--threads", "1"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert PROMISED[script] <= set(result) and result["smoke"] is True, result
    harms = {k: result[k] for k in MUST_BE_ZERO.get(script, ())}
    assert not any(harms.values()), (harms, result)
    assert all(result[k] == 1.0 for k in MUST_BE_ONE.get(script, ())), result


def test_reliability_runs_some_parts_and_merges_an_earlier_run(real_home, tmp_path):
    """``--parts`` measures only the parts named; ``--merge`` adds what an earlier run measured (and names
    it); an unknown part or an unreadable earlier file is a clear error, no traceback."""
    script = [sys.executable, str(BENCHMARKS / "reliability.py"), "--smoke"]
    earlier = tmp_path / "earlier.out"
    earlier.write_text("progress lines\n" + json.dumps({"parts": ["kills"], "kills": 7, "lost_turns": 0}) + "\n")
    done = subprocess.run([*script, "--parts", "fuzz", "--merge", str(earlier)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["fuzz_cases"] == 200 and result["kills"] == 7 and result["parts"] == ["fuzz", "kills"]
    assert result["merged_from"] == str(earlier) and "attack_conversations" not in result
    for args, said in ((["--parts", "fuzz,bogus"], "unknown part(s) bogus"),
                       (["--parts", "fuzz", "--merge", str(tmp_path / "none.out")], "cannot read an earlier run")):
        done = subprocess.run([*script, *args], capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
