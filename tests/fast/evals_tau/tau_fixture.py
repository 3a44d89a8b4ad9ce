"""Paths and helpers shared by the tau harness tests (the real tau2 retail db, small generated suites)."""
from __future__ import annotations

import json
from pathlib import Path

from agentspec.evals.tasks import UserInstructions, UserScenario

# tests/fast/evals_tau/<this file> -> the repo is three folders up; the data lives next to the repo.
REAL_DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"


def scenario(reason: str = "I want to cancel my order #W1; I no longer need it.",
             known: str = "Your email is ann@example.com. Your order id is #W1.",
             unknown: str | None = None, requests: tuple[str, ...] = ()) -> UserScenario:
    requests = requests or (reason,)
    return UserScenario(instructions=UserInstructions(
        domain="retail", reason_for_call=reason, known_info=known, unknown_info=unknown,
        task_instructions="Make these requests:\n" + "\n".join(f"- {r}" for r in requests)))


def write_episodes(run_dir: Path, rewards: dict[str, list[float]], category: str = "cancel") -> Path:
    """A run directory written by hand: run.json and one minimal episode line per (task, trial)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    trials = len(next(iter(rewards.values())))
    (run_dir / "run.json").write_text(json.dumps({
        "task_ids": list(rewards), "trials": trials, "max_turns": 30, "seed": 0, "agent": "hand",
        "user": "hand", "categories": [category] * len(rewards)}))
    lines = []
    for tid, values in rewards.items():
        for trial, reward in enumerate(values):
            lines.append(json.dumps({
                "task_id": tid, "trial": trial, "seed": 0, "category": category, "reward": reward,
                "db_match": reward == 1.0, "communicate_ok": True, "missing_info": [], "reasons": [],
                "termination": "user_stop", "error": None, "agent_turns": 3, "steps": 4,
                "valid_steps": 4 if reward else 3, "invalid_steps": 0 if reward else 1,
                "valid_step_share": 1.0 if reward else 0.75, "hallucinated_ids": [],
                "policy_violations": [], "prompt_tokens": 100, "completion_tokens": 10, "seconds": 1.0,
                "agent_seconds_per_turn": 0.3,
                "tool_calls": {"get_order_details": {"calls": 2, "errors": 0 if reward else 1}},
                "messages": []}))
    (run_dir / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir
