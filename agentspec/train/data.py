"""Verified synthetic training dialogues, produced by the REAL agent graph with a rule-based teacher.

    result = generate_data(DataSettings(db="db.json", out="data/", n=2000))

Why the real graph: training and inference must agree token for token. Each dialogue runs the agent
of ``spec`` (``AgentSession``: the same system prompt template, tools prompt, step and observation
messages, graph-made confirmation questions and context compaction as at inference) on a sandbox
copy of the store, with a ``ScriptedChatModel`` whose reply is the ``Teacher`` and the evals
``ScriptedUser`` (wrapped by ``MutatingUser``) as the customer. Every time the graph calls the model,
the exact prompt and the teacher's step text become one training example. The prompt budget is
counted with the spec model's own tokenizer (``tokenizer="spec"``: llama.cpp, vocabulary only), so
compaction happens where it will at inference; ``"words"`` counts words (fast tests).

What the customer says teaches language, not templates (``_scenario``, ``_mutate``): the requests in
the sentences of a wording family drawn per dialogue (a fifth in the standard builders' words), each
reply in a family drawn for that reply, typos, lower case, no punctuation, identity given before it
is asked, small talk; two or three requests in about 30 % of the dialogues, with the twists of
``evals._multi`` (a change of mind at the confirmation, a decline). Only training families are used
(``DataSettings.families`` narrows them; a held-out one is a ``DataError``).

Output folder (``DataSettings.out``):
- ``dialogues.jsonl``: every dialogue, appended as it finishes (flushed, fsynced): scenario,
  wording, twists, mutations, noise, events (user events carry their act, the family that worded
  them and the mutations that changed them), model steps, gold, verdict. A rerun skips the ids
  already there (resume; a line cut by a kill is dropped); ``meta.json`` holds the run's identity
  and a rerun must match it.
- ``rejected.jsonl``: dialogues a filter rejects, with every reason and detail (verifier audit).
- ``train.jsonl`` / ``valid.jsonl``: examples ``{"messages", "target", "dialogue_id", "intent",
  "turn", "step", "category", "verified"}``, split by dialogue (``valid_fraction``).
- ``card.md`` / ``card.json``: the dataset card (``_card``).

``verify=False`` keeps every dialogue (the data-ablation baseline); the verdict is still computed and
kept in the record (``verified: false`` on its examples). ``noise_rate`` gives that share of
dialogues one plausible teacher mistake, which the filters should remove.

Only users of the training split appear: ``split_file`` (evals' ``user_split.json``), else the split
``agentspec.evals.generate.user_split`` computes with the suite's defaults (seed 0, 30 % eval).
Not here: training (``lora``), the CLI (``cli``).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.evals.generate import user_split
from agentspec.evals.users import STOP
from agentspec.evals.wording import Family, WordingError
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import AgentSpec, load_spec
from agentspec.tools.retail import RetailStore
from agentspec.train._card import write_card
from agentspec.train._mutate import make_user
from agentspec.train._scenario import Scenario, allowed_families, build_scenario
from agentspec.train._teacher import Teacher
from agentspec.train.verify import near_duplicates, verify_dialogue

__all__ = ["DataError", "DataResult", "DataSettings", "generate_data", "load_train_users", "run_dialogue"]

DIALOGUES, REJECTED, META = "dialogues.jsonl", "rejected.jsonl", "meta.json"
FORMAT_VERSION = 2  # 2: wording families, multi-request twists, typed noise


class DataError(AgentSpecError):
    """Bad input for data generation: a missing db, a split leaking eval users, a mismatched out dir."""

    code = "train_data"


@dataclass
class DataSettings:
    db: str | os.PathLike[str]
    out: str | os.PathLike[str]
    n: int
    seed: int = 0
    split_file: str | os.PathLike[str] | None = None  # evals' user_split.json
    spec: str | AgentSpec = "retail"  # its prompts.system decides the system prompt of the data
    prompt: str | None = None  # override of spec.prompts.system (e.g. retail_compact.j2)
    noise_rate: float = 0.0
    verify: bool = True
    valid_fraction: float = 0.1
    tokenizer: str = "spec"  # "spec" (the spec model's tokenizer) | "words"
    max_turns: int = 20
    workers: int = 1
    progress: bool = True
    families: list[str] | None = None  # wording families (names or YAML paths); None: every training family


@dataclass
class DataResult:
    out: Path
    dialogues: int
    kept: int
    rejected: int
    train_examples: int
    valid_examples: int
    card: dict[str, Any] = field(default_factory=dict)


# ---- inputs -----------------------------------------------------------------------------------------

def load_train_users(db: dict[str, Any], split_file: str | os.PathLike[str] | None) -> tuple[list[str], list[str]]:
    """(train users, eval users): from the split file, else the suite generator's default split."""
    if split_file is None:
        return user_split(db, 0, 0.3)
    path = Path(split_file)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        train, held = sorted(raw["train_users"]), sorted(raw["eval_users"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the user split {path}: {exc}",
                        hint='pass the user_split.json `agentspec eval generate` wrote: {"train_users", "eval_users"}')
    if set(train) & set(held):
        raise DataError(f"{path}: {len(set(train) & set(held))} users are in both train_users and eval_users",
                        hint="regenerate the split; a user must be in exactly one of them")
    unknown = sorted(set(train) - set(db["users"]))
    if unknown:
        raise DataError(f"{path}: train users not in the db: {unknown[:3]}",
                        hint="the split file belongs to another db.json")
    if not train:
        raise DataError(f"{path} has no training users", hint="use a split with eval_fraction < 1")
    return train, held


def _spec(settings: DataSettings) -> AgentSpec:
    spec = settings.spec if isinstance(settings.spec, AgentSpec) else load_spec(settings.spec)
    # The teacher makes every write itself: the model learns to write, rather than to wait for the
    # graph's safety net (policy.confirmation.determine), and noise in writes stays noise. It also
    # knows every scenario's request: the graph's question for one (ask_for_request) is not its step.
    policy = spec.policy
    update: dict[str, Any] = {"policy": policy.model_copy(update={
        "confirmation": policy.confirmation.model_copy(update={"determine": False}), "ask_for_request": False}),
        "memory": None, "retrieval": None}  # a training dialogue has no past and writes no customer's memories
    if settings.prompt:
        update["prompts"] = spec.prompts.model_copy(update={"system": settings.prompt})
    updated = spec.model_copy(update=update)
    updated._base_dir, updated._source = spec.base_dir, spec.source
    return updated


def token_counter(spec: AgentSpec, kind: str) -> Callable[[str], int]:
    """How prompt budgets are counted: the spec model's tokenizer ("spec") or words ("words")."""
    if kind == "words":
        return lambda text: len(text.split())
    if kind != "spec":
        raise DataError(f"unknown tokenizer {kind!r}", hint="use spec or words")
    if spec.model.backend != "llamacpp":
        raise DataError(f"tokenizer=spec needs a llamacpp model, the spec has {spec.model.backend}",
                        hint="pass --tokenizer words (compaction then differs from inference)")
    import llama_cpp

    from agentspec.runtime.models import resolve_model

    path, _ = resolve_model(spec.model.name)
    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class _TeacherModel(ScriptedChatModel):
    """The scripted model with the spec model's token counts (so the graph compacts as at inference)."""

    def __init__(self, teacher: Teacher, count: Callable[[str], int], context_length: int):
        super().__init__(default_reply=teacher, name="teacher", context_length=context_length)
        self._counter = count

    def count_tokens(self, text: str) -> int:
        return self._counter(text)


# ---- one dialogue -------------------------------------------------------------------------------------

class _Context:
    """What every dialogue of a run shares, built once per process."""

    def __init__(self, settings: DataSettings):
        self.settings = settings
        self.spec = _spec(settings)
        with open(settings.db, encoding="utf-8") as f:
            self.db = json.load(f)
        self.train_users, self.eval_users = load_train_users(self.db, settings.split_file)
        self.base = RetailStore.from_json(self.db)
        self.count = token_counter(self.spec, settings.tokenizer)
        self.families = _wordings(settings)


def _wordings(settings: DataSettings) -> list[Family]:
    """The wording families of the run; a held-out or unknown one is a ``DataError``."""
    try:
        return allowed_families(settings.families)
    except WordingError as exc:
        raise DataError(f"wording families: {exc.message}", hint=exc.hint) from exc


def _events(messages: list[dict[str, Any]], model_replies: set[str], user: Any) -> list[dict[str, Any]]:
    """The dialogue as events; each user message carries the act the simulated user meant by it, the
    wording family that said it and the mutations that changed how it was typed."""
    events: list[dict[str, Any]] = []
    user_acts = iter(zip(user.acts, user.sources, user.noise))
    for m in messages:
        if m["role"] == "assistant":
            data = json.loads(m["content"])
            if "reply" in data:
                events.append({"kind": "reply", "text": data["reply"],
                               "by": "model" if data["reply"] in model_replies else "graph"})
            for call in data.get("calls", []):
                events.append({"kind": "call", "name": call["name"], "arguments": call["arguments"],
                               "observation": None})
        elif "meta" in m:
            waiting = next(e for e in events if e["kind"] == "call" and e["observation"] is None)
            waiting["observation"] = m["content"].split(": ", 1)[1]
        else:
            act, family, noise = next(user_acts, (None, None, []))
            events.append({"kind": "user", "text": m["content"], "act": act, "family": family, "noise": noise})
    return events


def run_dialogue(ctx: _Context, index: int) -> dict[str, Any]:
    """Play dialogue ``index`` through the agent graph and verify it; returns its record."""
    from agentspec.decoding.engine import StepDecoder
    from agentspec.graph.session import AgentSession

    s = ctx.settings
    scenario: Scenario = build_scenario(index, s.seed, ctx.db, ctx.train_users, s.noise_rate, families=ctx.families)
    if scenario.user_id in set(ctx.eval_users):
        raise AssertionError(f"eval user {scenario.user_id} drawn for training")  # our bug: never expected
    rng = random.Random(f"dialogue:{s.seed}:{index}")
    started = time.perf_counter()
    with ctx.base.copy() as sandbox:
        policy, said = ctx.spec.policy, ctx.spec.messages
        teacher = Teacher(scenario, ctx.db, [], rng, reported=policy.confirmation.report,
                          focused="order" in policy.targets.lookups, describe=sandbox.describe,
                          declined=said.declined, request_question=said.request_question)
        model = _TeacherModel(teacher, ctx.count, ctx.spec.model.n_ctx)
        decoder = StepDecoder(model, mode="validate", max_attempts=ctx.spec.decoding.max_attempts)
        session = AgentSession(ctx.spec, model=model, decoder=decoder, toolkits={"retail": sandbox}, seed=s.seed)
        tools = session.deps.registry.tools
        teacher.order_of = {t.name: list(t.parameters.get("properties", {})) for t in tools}
        user = make_user(scenario, rng, ctx.db, s.max_turns)
        text = user.reply(None)
        termination, last_user = "max_turns", text
        for turn in range(1, s.max_turns + 1):
            teacher.turn = turn
            result = session.send(text)
            if any(c["name"] == ctx.spec.policy.handoff.tool and c["outcome"] == "ok" for c in result.tool_calls):
                termination = "transfer"
                break
            text = user.reply(result.reply or "")
            last_user = text
            if STOP in text:
                # A user who gave up (out of turns: act "stop") did not finish: that is no completed dialogue.
                termination = "max_turns" if user.acts[-1] == "stop" else "user_stop"
                break
        messages = session.history()
        session.close()
        replies = {json.loads(e["target"])["reply"] for e in teacher.log if e["target"].startswith('{"reply"')}
        systems: dict[str, str] = {}
        steps = []
        for k, entry in enumerate(teacher.log):
            msgs = entry["messages"]
            key = ""
            if msgs and msgs[0]["role"] == "system":
                key = hashlib.sha256(msgs[0]["content"].encode()).hexdigest()[:12]
                systems[key] = msgs[0]["content"]
                msgs = msgs[1:]
            steps.append({"step": k, "turn": entry["turn"], "intent": entry["intent"], "noisy": entry["noisy"],
                          "system": key, "messages": msgs, "target": entry["target"]})
        record: dict[str, Any] = {
            "id": f"d{index:06d}", "index": index, "category": scenario.category, "user_id": scenario.user_id,
            "identity": scenario.lookup[0], "intents": [p.kind for p in scenario.plan],
            "wording": scenario.wording, "reply_families": [f.name for f in scenario.reply_families],
            "twists": scenario.twists, "declined": [list(p.write) for p in scenario.plan if p.declined and p.write],
            "mutations": scenario.mutations, "noise": scenario.noise, "forbidden": scenario.forbidden,
            "termination": termination, "last_user": last_user, "events": _events(messages, replies, user),
            "gold": [list(c) for c in scenario.gold],
            "communicate_info": [c for p in scenario.plan for c in p.communicate],
            "systems": systems, "steps": steps,
        }
        rejections = verify_dialogue(record, ctx.base, policy=ctx.spec.policy, tools=tools,
                                     describe=sandbox.describe, max_calls=ctx.spec.limits.max_calls_per_step)
    record["verdict"] = [r.to_dict() for r in rejections]
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


# ---- the run ------------------------------------------------------------------------------------------

_WORKER: _Context | None = None


def _init_worker(settings: DataSettings) -> None:
    global _WORKER
    _WORKER = _Context(settings)


def _work(index: int) -> dict[str, Any]:
    assert _WORKER is not None
    return run_dialogue(_WORKER, index)


def _identity(settings: DataSettings, spec: AgentSpec, train_users: list[str]) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "seed": settings.seed, "spec": spec.name, "prompt": spec.prompts.system,
            "noise_rate": settings.noise_rate, "tokenizer": settings.tokenizer, "max_turns": settings.max_turns,
            "families": [f.name for f in _wordings(settings)],
            "train_users_sha": hashlib.sha256("\n".join(train_users).encode()).hexdigest()[:16]}


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    """Records already written; a line cut by a kill is dropped and the file rewritten without it."""
    if not path.exists():
        return {}
    done, bad = {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            done[record["id"]] = record
        except (ValueError, KeyError):
            bad = True
    if bad:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done.values()), encoding="utf-8")
    return done


def generate_data(settings: DataSettings) -> DataResult:
    """Generate (or resume) ``settings.n`` dialogues, then filter, split and describe them."""
    if settings.n < 1:
        raise DataError(f"n={settings.n}: nothing to generate", hint="pass --n 1 or more")
    if not Path(settings.db).is_file():
        raise DataError(f"db file {settings.db} does not exist",
                        hint="pass the tau2 retail db.json, e.g. ../shared/data/tau2-retail/db.json")
    if not 0.0 <= settings.noise_rate <= 1.0:
        raise DataError(f"noise rate {settings.noise_rate} outside 0..1", hint="e.g. --noise 0.15")
    ctx = _Context(settings)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    identity = _identity(settings, ctx.spec, ctx.train_users)
    meta_path = out / META
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != identity:
            diff = sorted(k for k in identity if old.get(k) != identity[k])
            raise DataError(f"{out} holds dialogues of a different run (differs in: {', '.join(diff)})",
                            hint="use another --out, or rerun with the same options to resume")
    meta_path.write_text(json.dumps(identity, indent=1) + "\n")
    path = out / DIALOGUES
    done = _read_done(path)
    todo = [i for i in range(settings.n) if f"d{i:06d}" not in done]
    started = time.perf_counter()
    with open(path, "a", encoding="utf-8") as sink, _progress(settings.progress, settings.n, len(done)) as advance:
        def write(record: dict[str, Any]) -> None:
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
            done[record["id"]] = record
            advance(record)

        if settings.workers <= 1 or len(todo) < 2:
            for i in todo:
                write(run_dialogue(ctx, i))
        else:
            with ProcessPoolExecutor(settings.workers, mp_context=get_context("spawn"),
                                     initializer=_init_worker, initargs=(settings,)) as pool:
                pending = {pool.submit(_work, i) for i in todo[: settings.workers * 2]}
                queue = iter(todo[settings.workers * 2:])
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        write(fut.result())
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending.add(pool.submit(_work, nxt))
    ctx.base.close()
    records = sorted((r for r in done.values() if r["index"] < settings.n), key=lambda r: r["index"])
    return _finish(settings, ctx, records, out, time.perf_counter() - started)


def _finish(settings: DataSettings, ctx: _Context, records: list[dict[str, Any]], out: Path,
            seconds: float) -> DataResult:
    """Near-duplicates, rejected.jsonl, the train/valid examples and the card."""
    leaked = sorted({r["user_id"] for r in records} & set(ctx.eval_users))
    if leaked:
        raise DataError(f"eval users appear in {out / DIALOGUES}: {leaked[:3]}",
                        hint="the dialogues were made with another split; regenerate into a new --out")
    clean = [r for r in records if not r["verdict"]]
    dups = near_duplicates(clean if settings.verify else records)
    for r in records:
        r["reasons"] = [v["reason"] for v in r["verdict"]]
        if r["id"] in dups:
            other, jaccard = dups[r["id"]]
            r["reasons"].append("near_duplicate")
            r["verdict"] = r["verdict"] + [{"reason": "near_duplicate", "detail": f"{other} (Jaccard {jaccard})"}]
    rejected = [r for r in records if r["reasons"]]
    kept = records if not settings.verify else [r for r in records if not r["reasons"]]
    with open(out / REJECTED, "w", encoding="utf-8") as f:
        for r in rejected:
            f.write(json.dumps({"id": r["id"], "category": r["category"], "noise": r["noise"],
                                "reasons": r["reasons"], "verdict": r["verdict"], "dropped": settings.verify,
                                "events": r["events"]}, ensure_ascii=False) + "\n")
    counts = {"train": 0, "valid": 0}
    token_cache: dict[str, int] = {}

    def tokens(text: str) -> int:
        if text not in token_cache:
            token_cache[text] = ctx.count(text)
        return token_cache[text]

    stats: dict[str, Any] = {"prompt_tokens": 0, "target_tokens": 0, "max_prompt_tokens": 0, "intents": {}}
    with open(out / "train.jsonl", "w", encoding="utf-8") as train, open(out / "valid.jsonl", "w", encoding="utf-8") as valid:
        for r in kept:
            split = "valid" if _is_valid(settings.seed, r["id"], settings.valid_fraction) else "train"
            sink = valid if split == "valid" else train
            for step in r["steps"]:
                system = [{"role": "system", "content": r["systems"][step["system"]]}] if step["system"] else []
                messages = system + step["messages"]
                example = {"messages": messages, "target": step["target"], "dialogue_id": r["id"],
                           "intent": step["intent"], "turn": step["turn"], "step": step["step"],
                           "category": r["category"], "verified": not r["reasons"]}
                sink.write(json.dumps(example, ensure_ascii=False) + "\n")
                counts[split] += 1
                prompt = sum(tokens(m["content"]) for m in messages)
                stats["prompt_tokens"] += prompt
                stats["max_prompt_tokens"] = max(stats["max_prompt_tokens"], prompt)
                stats["target_tokens"] += tokens(step["target"])
                stats["intents"][step["intent"]] = stats["intents"].get(step["intent"], 0) + 1
    card = write_card(out, settings=_settings_dict(settings, ctx), records=records, kept=kept, rejected=rejected,
                      examples=counts, stats=stats, eval_users=ctx.eval_users, seconds=seconds)
    return DataResult(out, len(records), len(kept), len(rejected), counts["train"], counts["valid"], card)


def _settings_dict(settings: DataSettings, ctx: _Context) -> dict[str, Any]:
    d = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in asdict(settings).items() if k != "spec"}
    d["spec"] = ctx.spec.name
    d["prompt"] = ctx.spec.prompts.system
    return d


def _is_valid(seed: int, dialogue_id: str, fraction: float) -> bool:
    return int(hashlib.sha256(f"{seed}:{dialogue_id}".encode()).hexdigest()[:8], 16) / 2**32 < fraction


class _progress:
    """A rich progress bar over dialogues (kept / rejected so far), or nothing."""

    def __init__(self, enabled: bool, total: int, already: int):
        self.enabled, self.total, self.already = enabled, total, already
        self.bad = 0

    def __enter__(self) -> Callable[[dict[str, Any]], None]:
        if not self.enabled:
            return lambda record: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("dialogues"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                            TimeRemainingColumn())
        self.bar.start()
        self.task = self.bar.add_task("data", total=self.total, completed=self.already, note="")

        def advance(record: dict[str, Any]) -> None:
            self.bad += bool(record["verdict"])
            self.bar.update(self.task, advance=1, note=f"flagged {self.bad}")
        return advance

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.bar.stop()
