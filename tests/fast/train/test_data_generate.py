"""``agentspec train data`` on the real db: examples are exactly what the graph shows the model; the
customers speak in several wording families per dialogue, with typed noise, several requests and twists.

The fast tier reads with keyword rules (``tests/fake_reader.py``); here the reader double also knows
the training families' yes and no sentences, as the trained reader does (``FamilyReader``)."""
from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fake_reader import KeywordReader

import agentspec.routing.encoder as encoder_module
import agentspec.routing.reader as reader_module
from agentspec.decoding.grounding import Grounding
from agentspec.decoding.steps import parse_step
from agentspec.evals import _builders
from agentspec.evals import generate as generate_module
from agentspec.evals import users as users_module
from agentspec.evals.generate import user_split
from agentspec.evals.tasks import UserInstructions, UserScenario
from agentspec.evals.users import ScriptedUser
from agentspec.evals.wording import family_names, load_family, training_families
from agentspec.graph.session import AgentSession
from agentspec.routing.reader import Reading
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import load_spec
from agentspec.tools.retail import RETAIL_SHAPES, RetailStore
from agentspec.train import _mutate
from agentspec.train import data as data_module
from agentspec.train._mutate import CONFIRMATIONS, MutatingUser, make_user, typo, unpunctuated
from agentspec.train._scenario import build_scenario
from agentspec.train.cli import train_group
from agentspec.train.data import DataError, DataSettings, generate_data, load_train_users

DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"
NOISE = {"typos", "lowercase", "no_punctuation", "identity_first", "small_talk"}


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("\u2019", "")))


class FamilyReader(KeywordReader):
    """Keyword rules, plus every yes and no sentence of the training families (however typed)."""

    def __init__(self):
        super().__init__()
        families = [load_family(name) for name in training_families()]
        self.yes = {_norm(t) for f in families for t in f["yes"]} | {_norm(t) for t in CONFIRMATIONS}
        self.no = {_norm(t) for f in families for t in f["no"]}

    def read(self, text):
        found = super().read(text)
        key = _norm(text)
        if key in self.yes or found.answer["yes"] > 0.5:
            answer = {"yes": 0.995, "no": 0.0025, "other": 0.0025}
        elif key in self.no:
            answer = {"yes": 0.005, "no": 0.95, "other": 0.045}
        else:
            return found
        return Reading({c: 0.01 for c in found.requests}, answer, {}, found.choices)


def _no_model(*args, **kwargs):
    raise AssertionError("a fast-tier test tried to load a real model")


def _family_reader(mp):
    mp.setattr(reader_module, "load_reader", lambda path: FamilyReader())
    mp.setattr(encoder_module.SentenceEncoder, "load", classmethod(_no_model))


@pytest.fixture(autouse=True)
def _reads_families(_isolate, monkeypatch):
    _family_reader(monkeypatch)


def _settings(out, **kw):
    return DataSettings(**{"db": DB, "out": out, "n": 12, "tokenizer": "words", "progress": False, **kw})


def _rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not DB.exists():
        pytest.fail(f"shared data not found at {DB}")
    out = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:  # a module fixture runs before the per-test guards
        _family_reader(mp)
        yield generate_data(_settings(out)), out


@pytest.fixture(scope="module")
def db():
    return json.loads(DB.read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        _family_reader(mp)
        ctx = data_module._Context(_settings(tmp_path_factory.mktemp("ctx")))
        yield ctx
        ctx.base.close()


def _first(db, want, limit=400):
    """The first dialogue index whose scenario ``want`` accepts."""
    train, _ = user_split(db, 0, 0.3)
    return next(i for i in range(limit) if want(build_scenario(i, 0, db, train)))


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


def test_noise_keeps_values_verbatim_and_the_act():
    text = "Please change the Pet Bed in order #W1234567 to 12 Oak Street, Suite 4, Austin, TX 78701. Thanks, Ann!"
    keep = ["Pet Bed", "12 Oak Street", "Suite 4", "Austin", "TX", "Ann"]
    for seed in range(30):
        slipped = typo(text, random.Random(seed), n=2, protected=keep)
        assert slipped != text and all(v in slipped for v in [*keep, "#W1234567", "78701"])
    bare = unpunctuated(text, keep)
    assert "12 Oak Street, Suite 4, Austin, TX 78701" in bare and "Thanks Ann" in bare and "!" not in bare
    inner = _Inner([("confirm", "Yes, please go ahead."), ("state", "I'd like to cancel order #W1234567, Ann.")])
    user = MutatingUser(inner, ["lowercase", "no_punctuation"], random.Random(0), protected=keep)
    assert user.reply("Shall I proceed? (yes/no)") == "yes please go ahead"
    assert user.reply("How can I help?") == "id like to cancel order #W1234567, Ann"
    assert user.acts == ["confirm", "state"] and user.noise == [["lowercase", "no_punctuation"]] * 2


def test_every_noise_kind_appears_and_identity_given_first_is_the_lookups(db):
    train, _ = user_split(db, 0, 0.3)
    seen: set[str] = set()
    for i in range(60):
        scenario = build_scenario(i, 0, db, train)
        user = make_user(scenario, random.Random(i), db, 20)
        opening = user.reply(None)
        seen |= set(user.noise[0])
        if "identity_first" in user.noise[0]:  # every value the lookup needs, as the gold lookup has it
            assert all(str(v) in opening for v in scenario.lookup[1].values())
        if "#W" in scenario.task.user_scenario.instructions.reason_for_call and not scenario.vague:
            ids = re.findall(r"#W\d{7}", scenario.task.user_scenario.instructions.reason_for_call)
            assert all(oid in opening for oid in ids)  # ids survive every kind of noise
    assert NOISE <= seen


def test_a_scripted_user_draws_a_family_for_each_reply():
    families = [load_family(name) for name in training_families()]
    inner = UserInstructions(domain="retail", reason_for_call="Please cancel order #W1234567.",
                             known_info="Your email is a@b.com. Your order id is #W1234567.",
                             task_instructions="- Please cancel order #W1234567.")
    scenario = UserScenario(instructions=inner)
    asked = ["What is your email?", *["I'm about to cancel #W1234567. Shall I proceed? (yes/no)"] * 12]
    mixed = ScriptedUser(scenario, seed=1, family=families)
    said = [mixed.reply(None)] + [mixed.reply(a) for a in asked]
    assert mixed.acts == ["opening", "email"] + ["confirm"] * 12 and "a@b.com" in said[1]
    assert mixed.sources[0] is None and len(set(mixed.sources[1:])) > 1  # several authors in one conversation
    single = ScriptedUser(scenario, seed=1, family=families[0])
    [single.reply(None)] + [single.reply(a) for a in asked]
    assert set(single.sources[1:]) == {families[0].name}
    plain = ScriptedUser(scenario, seed=1)
    assert [plain.reply(None)] + [plain.reply(a) for a in asked][:2] == [
        "Please cancel order #W1234567.", "My email is a@b.com.", "Yes, please go ahead."]
    assert set(plain.sources) == {None}


def test_dialogues_mix_wording_families(run):
    _, out = run
    dialogues = _rows(out / "dialogues.jsonl")
    assert {d["wording"] for d in dialogues} - {"standard"}  # requests in a family's words ...
    per_dialogue = [{e["family"] for e in d["events"] if e["kind"] == "user" and e["act"] != "opening"} - {None}
                    for d in dialogues]
    assert sum(len(f) > 1 for f in per_dialogue) >= len(dialogues) // 3  # ... replies from several in one
    assert set().union(*per_dialogue) == set(training_families())
    requests = sum(len(d["intents"]) > 1 for d in dialogues)
    assert requests >= 2


def _calls(record, kind="call"):
    return [(e["name"], e["arguments"]) for e in record["events"] if e["kind"] == kind]


def test_a_declined_request_of_several_is_not_written_and_the_next_one_is(db, context):
    index = _first(db, lambda s: "decline" in s.twists and len(s.plan) > 1)
    record = data_module.run_dialogue(context, index)
    assert record["verdict"] == []  # verified: the final state is the gold, which has no declined write
    declined = [tuple(w) for w in record["declined"]]
    calls = [(name, args) for name, args in _calls(record)]
    assert declined and not any((name, args) in calls for name, args in declined)
    acts = [e.get("act") for e in record["events"] if e["kind"] == "user"]
    assert "decline" in acts
    after = record["events"][[e.get("act") for e in record["events"]].index("decline") + 1:]
    assert after[0]["kind"] == "reply" and after[0]["text"] == context.spec.messages.declined
    writes = [name for name, _ in calls if name in RetailStore.WRITE_TOOLS]
    assert writes and all(tuple(w) in calls or tuple(w) in declined for w in record["gold"][2:])


def test_a_change_of_mind_ends_with_the_changed_variant(db, context):
    index = _first(db, lambda s: "change_mind" in s.twists)
    train, _ = user_split(db, 0, 0.3)
    plan = next(p for p in build_scenario(index, 0, db, train).plan if p.changed_write)
    record = data_module.run_dialogue(context, index)
    assert record["verdict"] == []
    calls = _calls(record)
    assert (plan.changed_write[0], plan.changed_write[1]) in calls and (plan.write[0], plan.write[1]) not in calls
    assert [list(plan.changed_write)] == [g for g in record["gold"] if g[0] == plan.write[0]]
    acts = [e.get("act") for e in record["events"] if e["kind"] == "user"]
    assert acts.index("change_mind") < acts.index("confirm", acts.index("change_mind"))


def _literals(family) -> set[str]:
    return {part.strip().lower() for templates in family.acts.values() for t in templates
            for part, _, _, _ in string.Formatter().parse(t) if len(part.strip()) >= 20}


def _training_sources(db) -> str:
    """Every sentence training may say: the training families', the scripted and mutating users' own
    phrasings and the standard builders' requests (held-out text may coincide with these by chance)."""
    texts = [t for name in training_families() for ts in load_family(name).acts.values() for t in ts]
    texts += [t for ts in users_module._PHRASES.values() for t in ts]
    texts += [*_mutate.CONFIRMATIONS, *_mutate._NEXT, *_mutate._CONTEXT, *_mutate._EMAIL, *_mutate._NAME,
              *generate_module._GREETINGS, generate_module._BEHAVIOUR, *_builders._TRANSFER_REQUESTS]
    rng = random.Random(0)
    users = sorted(db["users"].values(), key=lambda u: u["user_id"])[:300]
    for user in users:
        for build in _builders.INTENT_BUILDERS.values():
            if (intent := build(db, user, rng)) is not None:
                texts.append(intent.request)
        if (draft := _builders.build_forbidden(db, user, rng, users[:20])) is not None:
            texts.append(draft.intents[0].request)
    return "\n".join(t.lower() for t in texts)


def test_no_held_out_family_text_reaches_the_data(run, db, tmp_path):
    _, out = run
    train, _ = user_split(db, 0, 0.3)
    said = [e["text"].lower() for d in _rows(out / "dialogues.jsonl") for e in d["events"] if e["kind"] == "user"]
    for i in range(150):
        instructions = build_scenario(i, 0, db, train).task.user_scenario.instructions
        said += [instructions.reason_for_call.lower(), instructions.task_instructions.lower()]
    blob, known = "\n".join(said), _training_sources(db)
    held = [name for name in family_names() if name not in training_families()]
    for name in held:
        distinct = {c for c in _literals(load_family(name)) if c not in known}
        assert distinct and not [c for c in distinct if c in blob], f"text of held-out family {name} in the data"
    # Passed explicitly, a held-out family is refused before anything runs.
    alder = yaml.safe_load((Path(data_module.__file__).parents[2] / "evals" / "wordings" / "alder.yaml").read_text())
    secret = tmp_path / "secret.yaml"
    secret.write_text(yaml.safe_dump({**alder, "name": "secret", "heldout": True}))
    for refused in [str(secret), *held]:
        with pytest.raises(DataError, match="held out"):
            generate_data(_settings(tmp_path / "out", families=[refused]))
    assert not (tmp_path / "out" / "dialogues.jsonl").exists()


def test_user_events_carry_the_act_and_every_write_follows_a_confirm(run):
    _, out = run
    writes = 0
    families = set(training_families()) | {"standard", None}
    for dialogue in _rows(out / "dialogues.jsonl"):
        last_user = None
        for event in dialogue["events"]:
            if event["kind"] == "user":
                assert event["act"] in {"opening", "confirm", "email", "name", "next", "state", "restate", "done",
                                        "wait", "stop", "unknown", "change_mind", "decline"}
                assert event["family"] in families and set(event["noise"]) <= NOISE
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
