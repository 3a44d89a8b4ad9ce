"""The episode loop, recording and resuming, worker processes, the monitor and the reports of a run."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest
from tau_fixture import REAL_DB

from agentspec.evals.agents import AgentFactory, AgentTurn, ToolCallRecord
from agentspec.evals.generate import generate_suite
from agentspec.evals.harness import RunDirMismatchError, UserFactory, read_episodes, run_suite
from agentspec.evals.report import ReportError, build_report, write_report
from agentspec.evals.tasks import UserScenario, load_tasks
from agentspec.evals.users import ScriptedUser
from agentspec.tools.retail import RetailStore

TRIALS = 2
# Fields that must match between runs; timings differ from run to run and are left out.
OUTCOME = ("task_id", "trial", "seed", "category", "reward", "db_match", "communicate_ok", "termination",
           "steps", "hallucinated_ids", "policy_violations", "tool_calls", "messages")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    generate_suite(REAL_DB, out, 9, seed=0)
    return load_tasks(out / "tasks.json")


@pytest.fixture(scope="module")
def reference(tasks, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    return run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS, out, progress=False)


def _outcomes(episodes):
    return [{k: ep[k] for k in OUTCOME} for ep in episodes]


def _stable(report):
    metrics = {k: v for k, v in report["metrics"].items() if "seconds" not in k}
    return {**{k: v for k, v in report.items() if k not in ("run_dir", "metrics")}, "metrics": metrics}


def test_oracle_scores_one_with_a_clean_record(reference, tasks):
    assert reference.summary()["pass_hat_k"] == {"1": 1.0, "2": 1.0}
    assert len(reference.episodes) == len(tasks) * TRIALS
    for ep in reference.episodes:
        assert ep["reward"] == 1.0, (ep["task_id"], ep["reasons"])
        assert ep["hallucinated_ids"] == [] and ep["policy_violations"] == []
        assert ep["termination"] == ("transfer" if ep["category"] == "transfer" else "user_stop")
        assert ep["valid_step_share"] == 1.0 and sum(c["errors"] for c in ep["tool_calls"].values()) == 0
    assert [(e["task_id"], e["trial"]) for e in reference.episodes] == [
        (t.id, trial) for t in tasks for trial in range(TRIALS)]


def _killed_copy(reference, run, keep: int, partial: bool = False):
    """The reference run as a kill after ``keep`` episodes left it (optionally mid-write of the next)."""
    run.mkdir()
    shutil.copy(reference.out_dir / "run.json", run / "run.json")
    lines = (reference.out_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    (run / "episodes.jsonl").write_text("".join(lines[:keep]) + (lines[keep][:40] if partial else ""))
    return run


def test_truncated_run_resumes_to_the_same_result(reference, tasks, tmp_path):
    # A kill after 14 episodes, in the middle of writing the 15th.
    run = _killed_copy(reference, tmp_path / "run", 14, partial=True)
    resumed = run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS, run, progress=False)
    assert _outcomes(resumed.episodes) == _outcomes(reference.episodes)
    assert len(read_episodes(run / "episodes.jsonl")) == len(tasks) * TRIALS
    assert _stable(build_report(run)) == _stable(build_report(reference.out_dir))


_INTERRUPT = {"at": None}


class _Interrupting:
    def __init__(self, agent):
        self.agent, self.started = agent, 0

    def start(self, store, task_id, seed=0):
        self.started += 1
        if self.started == _INTERRUPT["at"]:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run
        return self.agent.start(store, task_id, seed=seed)


@dataclass(frozen=True)
class InterruptingFactory:
    def __call__(self, gold):
        return _Interrupting(AgentFactory("oracle")(gold))


def test_keyboard_interrupt_then_rerun_gives_the_same_result(reference, tasks, tmp_path):
    run = _killed_copy(reference, tmp_path / "run", 12)
    run_json = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**run_json, "agent": repr(InterruptingFactory())}))
    _INTERRUPT["at"] = 3  # Ctrl-C while the third of the remaining six episodes starts
    with pytest.raises(KeyboardInterrupt):
        run_suite(tasks, REAL_DB, InterruptingFactory(), UserFactory(), TRIALS, run, progress=False)
    assert len(read_episodes(run / "episodes.jsonl")) == 14
    _INTERRUPT["at"] = None
    resumed = run_suite(tasks, REAL_DB, InterruptingFactory(), UserFactory(), TRIALS, run, progress=False)
    assert _outcomes(resumed.episodes) == _outcomes(reference.episodes)


def test_two_workers_give_the_same_results(reference, tasks, tmp_path):
    # Ten of the eighteen episodes run in two spawned worker processes, in whatever order they finish.
    run = _killed_copy(reference, tmp_path / "run", 8)
    parallel = run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS, run, workers=2,
                         progress=False)
    assert _outcomes(parallel.episodes) == _outcomes(reference.episodes)


def test_a_different_run_in_the_same_directory_is_refused(reference, tasks):
    with pytest.raises(RunDirMismatchError, match="trials"):
        run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS + 1, reference.out_dir,
                  progress=False)


def test_a_resume_with_another_tasks_file_of_the_same_ids_is_refused_naming_the_tasks(reference, tasks, tmp_path):
    run = _killed_copy(reference, tmp_path / "run", 4)
    other = [t.model_copy(update={"description": "another suite"}) if i in (1, 3) else t for i, t in enumerate(tasks)]
    assert [t.id for t in other] == [t.id for t in tasks]
    with pytest.raises(RunDirMismatchError, match="content of task") as refused:
        run_suite(other, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS, run, progress=False)
    assert f"{tasks[1].id}, {tasks[3].id}" in str(refused.value) and tasks[0].id + "," not in str(refused.value)
    assert "new --out directory" in str(refused.value)  # the fix, in the hint
    assert len(read_episodes(run / "episodes.jsonl")) == 4  # nothing ran, nothing was lost


def test_a_resume_with_another_db_or_spec_content_is_refused(reference, tasks, tmp_path):
    run = _killed_copy(reference, tmp_path / "run", 4)
    db = tmp_path / "db.json"
    db.write_text(REAL_DB.read_text() + "\n")  # the same data, another file content
    with pytest.raises(RunDirMismatchError, match="db file"):
        run_suite(tasks, db, AgentFactory("oracle"), UserFactory(), TRIALS, run, progress=False)
    spec = tmp_path / "agent.yaml"
    spec.write_text("name: first\n")
    first = AgentFactory.of("spec", spec=str(spec)).content_digest()
    spec.write_text("name: second\n")
    assert AgentFactory.of("spec", spec=str(spec)).content_digest() != first
    assert AgentFactory("oracle").content_digest() is None


def test_a_run_file_without_digests_resumes(reference, tasks, tmp_path):
    run = _killed_copy(reference, tmp_path / "run", 16)
    old = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({k: v for k, v in old.items() if not k.endswith(("_digest", "_digests"))}))
    resumed = run_suite(tasks, REAL_DB, AgentFactory("oracle"), UserFactory(), TRIALS, run, progress=False)
    assert _outcomes(resumed.episodes) == _outcomes(reference.episodes)


def test_report_files_and_fields(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference.out_dir, run)
    report = write_report(run)
    for name in ("report.json", "report.md", "passk.png", "categories.png"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    saved = json.loads((run / "report.json").read_text())
    assert saved["n_tasks"] == 9 and saved["trials"] == TRIALS and saved["pass_hat_k"]["2"] == 1.0
    assert set(saved["ci"]["1"]) == {"pass_hat_k", "pass_at_k"} and saved["pass_at_k"]["1"] == 1.0
    assert saved["categories"]["cancel"] == {"n_tasks": 1, "episodes": 2, "success_rate": 1.0,
                                             "pass_hat_k": {"1": 1.0, "2": 1.0}}
    metrics = saved["metrics"]
    assert metrics["valid_step_share"] == 1.0 and metrics["policy_violations_per_episode"] == 0.0
    assert metrics["tool_error_rates"]["get_user_details"]["error_rate"] == 0.0
    assert "| cancel | 1 | 1.000 | 1.000 |" in (run / "report.md").read_text()
    assert report["figures"] == ["passk.png", "categories.png"]
    lines = (run / "episodes.jsonl").read_text().splitlines()
    (run / "episodes.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ReportError, match="1 of 18 episodes are not finished"):
        build_report(run)


# ---- agents that misbehave ------------------------------------------------------------------------

class _Hasty:
    """Runs only the gold writes at once: no identity check, no confirmation, ids it never saw."""

    def __init__(self, gold):
        self.gold = gold

    def start(self, store, task_id, seed=0):
        writes = [a for a in self.gold[task_id].actions if a.name in RetailStore.WRITE_TOOLS]
        return _HastySession(store, writes)


class _HastySession:
    def __init__(self, store, writes):
        self.store, self.writes = store, writes

    def respond(self, user_text):
        calls = [ToolCallRecord.run(self.store, a.name, a.arguments) for a in self.writes]
        calls.append(ToolCallRecord.run(self.store, "get_order_details", {"order_id": "#W0000000"}))
        self.writes = []
        return AgentTurn(reply="Done, all of it went through successfully.", tool_calls=calls,
                         steps=len(calls) + 2, valid_steps=len(calls) + 1, invalid_steps=1)


def hasty_factory(gold):
    return _Hasty(gold)


def test_monitor_records_violations_hallucinations_and_tool_errors(tasks, tmp_path):
    suite = [t for t in tasks if t.category == "modify_items"]
    result = run_suite(suite, REAL_DB, hasty_factory, UserFactory(), 1, tmp_path, progress=False)
    (ep,) = result.episodes
    assert ep["reward"] == 1.0  # the state is right; the record shows how it got there
    assert ep["policy_violations"] == ["modify_pending_order_items before authentication",
                                       "modify_pending_order_items without explicit confirmation"]
    write = next(a for a in suite[0].evaluation_criteria.actions if a.name == "modify_pending_order_items")
    assert f"item:{write.arguments['new_item_ids'][0]}" in ep["hallucinated_ids"]
    assert "order:#W0000000" in ep["hallucinated_ids"]
    assert ep["tool_calls"]["get_order_details"] == {"calls": 1, "errors": 1}
    assert (ep["steps"], ep["valid_steps"], ep["invalid_steps"]) == (4, 3, 1)


class _Mute:
    def start(self, store, task_id, seed=0):
        return self

    def respond(self, user_text):
        return AgentTurn(reply="Hmm.", steps=1, valid_steps=1)


def mute_factory(gold):
    return _Mute()


SEEN = []


def patient_spy_user(scenario, *, seed, max_turns):
    SEEN.append(scenario)
    return ScriptedUser(scenario, max_turns=100, seed=seed)


def test_max_turns_is_a_failure_and_users_get_only_the_scenario(tasks, tmp_path):
    SEEN.clear()
    result = run_suite(tasks[:1], REAL_DB, mute_factory, patient_spy_user, 1, tmp_path, max_turns=3,
                       progress=False)
    for ep in result.episodes:
        assert ep["termination"] == "max_turns" and ep["agent_turns"] == 3 and ep["reward"] == 0.0
        assert "the agent ran out of turns" in ep["reasons"]
    assert len(SEEN) == 1 and all(type(s) is UserScenario for s in SEEN)


def test_an_id_the_agent_stated_and_the_user_confirmed_is_not_invented():
    from agentspec.evals._monitor import EpisodeMonitor

    with RetailStore.from_json(REAL_DB) as store:
        order = next(o for _, o in store._db.items("orders") if o["status"] == "pending")
        old = order["items"][0]
        product = store._db.get("products", old["product_id"])
        new = next(i for i, v in product["variants"].items() if i != old["item_id"] and v["available"])
        args = {"order_id": order["order_id"], "item_ids": [old["item_id"]], "new_item_ids": [new],
                "payment_method_id": order["payment_history"][0]["payment_method_id"]}
        monitor = EpisodeMonitor(store)
        monitor.observe_user(f"change the {old['name']} in {order['order_id']}")
        monitor.check_turn(AgentTurn(reply=f"I'm about to modify ... become item {new}. Shall I proceed? (yes/no)"))
        monitor.observe_user("yes")
        write = ToolCallRecord(name="modify_pending_order_items", arguments=args, observation="{}", outcome="error")
        invented, _ = monitor.check_turn(AgentTurn(reply="Done.", tool_calls=[write]))
        assert f"item:{new}" not in invented  # stated, then confirmed
        assert f"item:{old['item_id']}" in invented  # never shown: the old item was not read or stated
        monitor.observe_user("and again?")  # no yes: a stated id is not confirmed
        invented, _ = monitor.check_turn(AgentTurn(reply="Done.", tool_calls=[write]))
        assert f"item:{new}" in invented
