"""``agentspec train data`` on the real db: examples are exactly what the graph shows the model."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentspec.decoding.grounding import Grounding
from agentspec.decoding.steps import parse_step
from agentspec.evals.generate import user_split
from agentspec.graph.session import AgentSession
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import load_spec
from agentspec.tools.retail import RETAIL_SHAPES, RetailStore
from agentspec.train import data as data_module
from agentspec.train._mutate import CONFIRMATIONS, MutatingUser
from agentspec.train.cli import train_group
from agentspec.train.data import DataError, DataSettings, generate_data, load_train_users

DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"


def _settings(out, **kw):
    return DataSettings(**{"db": DB, "out": out, "n": 12, "tokenizer": "words", "progress": False, **kw})


def _rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not DB.exists():
        pytest.fail(f"shared data not found at {DB}")
    out = tmp_path_factory.mktemp("data")
    return generate_data(_settings(out)), out


def test_system_message_is_the_graphs_rendered_prompt(run):
    result, out = run
    first = _rows(out / "train.jsonl")[0] if result.train_examples else _rows(out / "valid.jsonl")[0]
    spec = load_spec("retail")
    with RetailStore.from_json(DB) as store:
        session = AgentSession(spec, model=ScriptedChatModel(), toolkits={"retail": store})
        deps = session.deps
        rendered = deps.prompt.render(deps.offered_tools(None), None, parallel=False)
    assert first["messages"][0] == {"role": "system", "content": rendered}
    assert first["messages"][1]["role"] == "user" and first["step"] == 0


def test_targets_parse_against_the_offered_tools_and_visible_ids(run):
    _, out = run
    rows = _rows(out / "train.jsonl") + _rows(out / "valid.jsonl")
    assert len(rows) > 12
    with RetailStore.from_json(DB) as store:
        from agentspec.toolkit import ToolRegistry

        tools = {t.name: t for t in ToolRegistry([store]).tools}
    auth = load_spec("retail").policy.authentication.tools
    for row in rows:
        # The graph offers the lookup tools until one found the user, then every tool.
        found = any(m["role"] == "user" and m["content"].startswith("Tool result of find_user_id")
                    and ": Error" not in m["content"] for m in row["messages"][1:])
        offered = list(tools.values()) if found else [tools[name] for name in auth]
        grounding = Grounding.from_shapes(RETAIL_SHAPES)
        for m in row["messages"][1:]:
            if m["role"] == "user":
                grounding.observe_text(m["content"])
        step = parse_step(row["target"], offered, grounding, max_calls=1)
        assert step.to_text() == row["target"]  # canonical form, token for token


def test_history_holds_the_targets_verbatim(run):
    _, out = run
    by_dialogue: dict[str, list[dict]] = {}
    for row in _rows(out / "train.jsonl") + _rows(out / "valid.jsonl"):
        by_dialogue.setdefault(row["dialogue_id"], []).append(row)
    checked = 0
    for rows in by_dialogue.values():
        rows.sort(key=lambda r: r["step"])
        last = rows[-1]["messages"]
        shown = [m["content"] for m in last if m["role"] == "assistant"]
        # Writes become the graph's confirmation question (and run later, or never after a change of
        # mind); every other call the model wrote is in the history exactly as it wrote it. (A dialogue
        # the graph hands over right after the lookup has no earlier call of the model's.)
        calls = [r["target"] for r in rows[:-1] if r["target"].startswith('{"calls"')
                 and json.loads(r["target"])["calls"][0]["name"] not in RetailStore.WRITE_TOOLS]
        assert all(c in shown for c in calls)
        checked += len(calls)
    assert checked > len(by_dialogue)


def test_only_training_users_and_a_card(run):
    result, out = run
    db = json.loads(DB.read_text())
    _, eval_users = user_split(db, 0, 0.3)
    users = {r["user_id"] for r in _rows(out / "dialogues.jsonl")}
    assert users and not users & set(eval_users)
    card = json.loads((out / "card.json").read_text())
    assert card["users"]["eval_users_in_data"] == 0
    assert card["counts"]["dialogues"] == 12 and card["counts"]["kept"] == result.kept
    assert result.rejected == 0  # without noise, the teacher's dialogues all pass
    assert "Rejections by reason" in (out / "card.md").read_text()


def test_split_with_an_eval_user_in_train_fails_clearly(tmp_path):
    db = json.loads(DB.read_text())
    train, held = user_split(db, 0, 0.3)
    bad = tmp_path / "user_split.json"
    bad.write_text(json.dumps({"train_users": train + held[:1], "eval_users": held}))
    with pytest.raises(DataError, match="both train_users and eval_users"):
        load_train_users(db, bad)


def test_noise_is_caught_by_verification_with_reasons(tmp_path):
    result = generate_data(_settings(tmp_path, n=8, noise_rate=1.0))
    rejected = _rows(tmp_path / "rejected.jsonl")
    assert result.kept + result.rejected == 8 and len(rejected) == result.rejected == 8
    assert all(r["reasons"] and r["noise"] for r in rejected)
    assert all(row["caught"] == row["dialogues"] for row in result.card["noise"].values())
    assert result.train_examples + result.valid_examples == 0


def test_no_verify_keeps_rejected_dialogues_marked(tmp_path):
    result = generate_data(_settings(tmp_path, n=4, noise_rate=1.0, verify=False))
    rows = _rows(tmp_path / "train.jsonl") + _rows(tmp_path / "valid.jsonl")
    assert result.kept == 4 and rows and not any(r["verified"] for r in rows)


def test_resume_skips_done_dialogues(tmp_path, monkeypatch):
    generate_data(_settings(tmp_path, n=3))
    before = (tmp_path / "train.jsonl").read_text() + (tmp_path / "valid.jsonl").read_text()
    lines = (tmp_path / "dialogues.jsonl").read_text().splitlines()
    (tmp_path / "dialogues.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:50])  # cut by a kill
    ran = []
    real = data_module.run_dialogue
    monkeypatch.setattr(data_module, "run_dialogue", lambda ctx, i: ran.append(i) or real(ctx, i))
    generate_data(_settings(tmp_path, n=3))
    assert ran == [2]
    assert (tmp_path / "train.jsonl").read_text() + (tmp_path / "valid.jsonl").read_text() == before
    with pytest.raises(DataError, match="different run"):
        generate_data(_settings(tmp_path, n=3, seed=1))


def test_deterministic_for_a_seed(tmp_path):
    a = generate_data(_settings(tmp_path / "a", n=2))
    b = generate_data(_settings(tmp_path / "b", n=2))
    for name in ("train.jsonl", "valid.jsonl"):
        assert (a.out / name).read_text() == (b.out / name).read_text()


def test_compact_prompt_from_the_spec_choice(tmp_path):
    generate_data(_settings(tmp_path, n=1, prompt="retail_compact.j2"))
    row = (_rows(tmp_path / "train.jsonl") + _rows(tmp_path / "valid.jsonl"))[0]
    system = row["messages"][0]["content"]
    assert system.startswith("You are the customer-service agent of an online shop.")
    assert "- find_user_id_by_email(email: str)" in system


class _Inner:
    """A ScriptedUser's surface: each reply with the act it is."""

    done = False

    def __init__(self, replies: list[tuple[str, str]]):
        self.replies, self.acts = list(replies), []

    def reply(self, agent_text):
        act, text = self.replies.pop(0)
        self.acts.append(act)
        return text


def test_a_paraphrased_confirmation_keeps_its_act():
    inner = _Inner([("email", "My email is a@b.com."), *[("confirm", "Yes, please go ahead.")] * 20])
    user = MutatingUser(inner, ["paraphrase"], random.Random(0))
    assert "a@b.com" in user.reply("What is your email?")
    said = [user.reply("I'm about to cancel #W1. Shall I proceed? (yes/no)") for _ in range(20)]
    assert set(said) <= set(CONFIRMATIONS) and len(set(said)) > 1  # reworded, ...
    assert user.acts == ["email"] + ["confirm"] * 20  # ... still a yes: verification reads the act, not the words


def test_a_change_of_mind_at_the_statement_is_recorded_as_one():
    inner = _Inner([("confirm", "Yes, please go ahead.")] * 2)
    user = MutatingUser(inner, ["change_mind"], random.Random(0), change=("cancel #W1", "color red"))
    changed = user.reply("I'm about to cancel #W1. Shall I proceed?")
    assert "color red" in changed and user.reply("I'm about to cancel #W1. Shall I proceed?") == "Yes, please go ahead."
    assert user.acts == ["change_mind", "confirm"]


def test_user_events_carry_the_act_and_every_write_follows_a_confirm(run):
    _, out = run
    writes = 0
    for dialogue in _rows(out / "dialogues.jsonl"):
        last_user = None
        for event in dialogue["events"]:
            if event["kind"] == "user":
                assert event["act"] in {"opening", "confirm", "email", "name", "next", "state", "restate", "done",
                                        "wait", "stop", "unknown", "change_mind", "decline"}
                last_user = event
            elif event["kind"] == "call" and event["name"] in RetailStore.WRITE_TOOLS:
                writes += 1
                assert last_user is not None and last_user["act"] == "confirm"
    assert writes


def test_cli_data_command(tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(train_group, ["data", "--db", str(DB), "--out", str(out), "--n", "2",
                                              "--tokenizer", "words", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "2 dialogues" in result.output and (out / "card.md").exists()


def test_the_graph_reports_writes_so_no_target_is_a_closing_reply_after_one(run):
    # retail's policy.confirmation.report: after a write the graph says it is done; the teacher moves on to
    # the next request instead of writing its own closing reply (which would come a turn late).
    _, out = run
    dialogues = _rows(out / "dialogues.jsonl")
    reports = [e["text"] for d in dialogues for e in d["events"]
               if e["kind"] == "reply" and e.get("by") == "graph" and " has been " in e["text"]]
    assert reports and all(r.endswith("Is there anything else I can help you with?") for r in reports)
    model_closings = [e["text"] for d in dialogues for e in d["events"]
                      if e["kind"] == "reply" and e.get("by") == "model" and " has been " in e["text"]]
    assert model_closings == []
