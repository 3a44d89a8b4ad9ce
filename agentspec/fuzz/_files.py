"""Fuzz targets of the files agentspec reads: spec YAML, tau2 task files, BFCL case files, saved
sessions (``session.json``, ``checkpoints.sqlite``) and a run directory (``run.json``, ``episodes.jsonl``).

Each target is a strategy of file bytes (valid files mutated and damaged, see ``agentspec.fuzz._inputs``)
and a check that writes them under the context's folder and reads them through the public entry point.
hypothesis is imported inside the functions that use it.
"""
from __future__ import annotations

import functools
import json
import zlib
from pathlib import Path
from typing import Any

from agentspec.fuzz._inputs import (
    byte_edits,
    dump_json,
    edit_bytes,
    hostile_text,
    json_lines,
    json_values,
    mutate,
    mutations,
)
from agentspec.fuzz._runner import FuzzContext


# ---- target: spec YAML ---------------------------------------------------------------------------

def _spec_documents() -> list[dict[str, Any]]:
    """Valid spec mappings to mutate: the packaged retail spec (paths made absolute) and small ones."""
    import yaml

    from agentspec.spec import _specs_dir

    retail = yaml.safe_load((_specs_dir() / "retail.yaml").read_text(encoding="utf-8"))
    for adapter in retail.get("adapters", []):
        adapter["path"] = str(_specs_dir() / adapter["path"])
    retail["understanding"]["reader"] = str(_specs_dir() / retail["understanding"]["reader"])
    small = {"name": "small", "toolkits": [{"name": "retail"}], "prompts": {"system": "retail_system.j2"},
             "messages": {"stopped": "Say again?"}}
    return [retail, small, {"extends": "retail-base", "name": "child"}, {"extends": "retail", "limits": {}}]


def spec_strategy(ctx: FuzzContext) -> Any:
    """Spec file bytes: mutated valid specs (some with damaged bytes), YAML oddities, random bytes."""
    from hypothesis import strategies as st

    docs = _spec_documents()
    hostile = st.sampled_from(["a: &a [*a, *a]\nb: &b [*a, *a]\nname: *b\n", "!!python/object/apply:os.system [x]",
                               "name: x\nname: y\n", "? [a]\n: b\n", "extends: fuzz.yaml\n", "extends: ../../x\n",
                               "\ufeffname: x\n", "- a\n- b\n", "", "name: !!binary aGk=\n"])
    structured = st.tuples(st.sampled_from(range(len(docs))), mutations(), byte_edits()).map(
        lambda t: _spec_bytes(docs[t[0]], t[1], t[2]))
    return st.one_of(structured, structured, structured, hostile.map(str.encode), st.binary(max_size=64))


def _spec_bytes(doc: dict[str, Any], edits: list[Any], raw_edits: list[Any]) -> bytes:
    import yaml

    return edit_bytes(yaml.safe_dump(mutate(doc, edits), allow_unicode=True).encode("utf-8", "surrogatepass"),
                      raw_edits)


def check_spec_file(ctx: FuzzContext, data: bytes) -> None:
    """``load_spec`` (a spec or ``SpecError``) of a file holding ``data``; for one file in four (YAML parsing
    is slow) also ``agentspec validate`` on it, which must exit 0 or 2, never with a traceback."""
    from agentspec.spec import load_spec

    path = ctx.root / "fuzz.yaml"
    path.write_bytes(data)
    if zlib.crc32(data) % 4 == 0:
        _validate_cli(path)
    load_spec(str(path))


def _validate_cli(path: Path) -> None:
    from click.testing import CliRunner

    from agentspec.cli import cli

    result = CliRunner().invoke(cli, ["validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 2), f"validate exited {result.exit_code}: {result.output[-300:]}"


# ---- target: tau2 task files ---------------------------------------------------------------------

def _task_strategy() -> Any:
    """Task objects in tau2's shape, with optional fields present or not (the id is set by the caller)."""
    from hypothesis import strategies as st

    text = hostile_text()
    structured = st.fixed_dictionaries(
        {"domain": st.just("retail"), "reason_for_call": text, "task_instructions": text},
        optional={"known_info": st.one_of(st.none(), text), "unknown_info": st.one_of(st.none(), text)})
    instructions = st.one_of(structured, structured, structured, text)
    action = st.fixed_dictionaries(
        {"action_id": text, "name": st.sampled_from(["cancel_pending_order", "get_order_details", "calculate", "nope"]),
         "arguments": st.dictionaries(st.sampled_from(["order_id", "reason", "expression"]),
                                      st.one_of(st.sampled_from(["#W2611340", "ordered by mistake", "1+1"]),
                                                json_values()), max_size=2)},
        optional={"requestor": st.sampled_from(["assistant", "user"]), "info": text,
                  "compare_args": st.lists(text, max_size=2)})
    return st.fixed_dictionaries(
        {"id": st.one_of(st.none(), st.integers(), text),
         "user_scenario": st.fixed_dictionaries({"instructions": instructions},
                                                optional={"persona": st.one_of(st.none(), text)})},
        optional={"description": st.one_of(st.none(), text, st.dictionaries(text, text, max_size=2)),
                  "category": st.one_of(st.none(), text),
                  "evaluation_criteria": st.fixed_dictionaries(
                      {"actions": st.lists(action, max_size=2)},
                      optional={"communicate_info": st.lists(text, max_size=2),
                                "nl_assertions": st.one_of(st.none(), st.lists(text, max_size=2))}),
                  "initial_state": json_values(), "ticket": text})


def tasks_strategy(ctx: FuzzContext) -> Any:
    """``(tasks.json bytes, split file bytes or None, split name or None)``, mutated and damaged."""
    from hypothesis import strategies as st

    tasks = st.lists(_task_strategy(), max_size=3)
    split_names = st.one_of(st.none(), st.sampled_from(["train", "test", ""]))

    @st.composite
    def files(draw: Any) -> tuple[bytes, bytes | None, str | None]:
        drawn = draw(tasks)
        for i, task in enumerate(drawn):
            if task["id"] is None:
                task["id"] = str(i)  # most ids are the plain, unique ones tau2 writes
        data = edit_bytes(dump_json(mutate(drawn, draw(mutations()))), draw(byte_edits()))
        split = draw(split_names)
        splits = None
        if split is not None:
            ids = [str(t.get("id")) for t in drawn]
            raw = {"train": ids[:1], "test": ids[1:]}
            splits = edit_bytes(dump_json(mutate(raw, draw(mutations()))), draw(byte_edits()))
        return data, splits, split

    return files()


def check_tasks_file(ctx: FuzzContext, value: tuple[bytes, bytes | None, str | None]) -> None:
    """``load_tasks`` of a fuzzed tasks.json (and split file); loaded tasks print, save and load back equal."""
    from agentspec.evals.tasks import load_tasks, save_tasks

    data, splits, split = value
    folder = ctx.root / "tasks"
    folder.mkdir(exist_ok=True)
    (folder / "tasks.json").write_bytes(data)
    split_path = folder / "split_tasks.json"
    if splits is not None:
        split_path.write_bytes(splits)
    elif split_path.exists():
        split_path.unlink()
    tasks = load_tasks(folder / "tasks.json", split=split)
    for task in tasks:
        str(task.user_scenario)
        _simulate_user(task)
    again = load_tasks(save_tasks(tasks, ctx.root / "tasks-copy" / "tasks.json"))
    assert [t.model_dump(mode="json") for t in again] == [t.model_dump(mode="json") for t in tasks], \
        "tasks changed on a save and load round trip"


# What an agent says that moves a scripted user through its branches (opening, identity, confirm, done).
AGENT_LINES = [None, "Could you give me your email address?", "I couldn't find you. Your name and zip code, please?",
               "I'm about to cancel order #W1. Shall I proceed? (yes/no)", "Done. Anything else?", "Which order?"]


def _simulate_user(task: Any) -> None:
    """The harness's scripted users (plain and varied wording) for ``task``, through a few agent lines."""
    from agentspec.evals.users import ScriptedUser

    for varied in (False, True):
        user = ScriptedUser(task.user_scenario, max_turns=len(AGENT_LINES) + 1, seed=1, varied=varied)
        for line in AGENT_LINES:
            assert isinstance(user.reply(line), str)


# ---- target: BFCL case files ---------------------------------------------------------------------

def bfcl_strategy(ctx: FuzzContext) -> Any:
    """``(questions bytes, answers bytes or None, the scripted model's replies)`` of 1-2 BFCL cases."""
    from hypothesis import strategies as st

    types = st.sampled_from(["string", "integer", "float", "boolean", "array", "dict", "tuple", "any", "number",
                             "object", "null", "weird"])
    param = st.fixed_dictionaries({"type": types}, optional={
        "description": st.text(max_size=10), "enum": st.lists(json_values(2), max_size=3),
        "default": json_values(2), "items": st.fixed_dictionaries({"type": types}),
        "properties": st.dictionaries(st.text(max_size=4), st.fixed_dictionaries({"type": types}), max_size=2)})
    function = st.fixed_dictionaries({
        "name": st.sampled_from(["get_weather", "uber.ride", "f", ""]),
        "parameters": st.fixed_dictionaries({"type": st.sampled_from(["dict", "object"]),
                                             "properties": st.dictionaries(st.sampled_from(["a", "b", "loc"]), param,
                                                                           max_size=3),
                                             "required": st.lists(st.sampled_from(["a", "b", "loc", "z"]),
                                                                  max_size=2)})},
        optional={"description": st.text(max_size=20)})
    category = st.sampled_from(["live_simple", "simple", "multiple", "parallel", "parallel_multiple",
                                "live_irrelevance", "live_relevance", "java", "multi_turn_base", "x"])
    functions = st.lists(function, min_size=1, max_size=2)
    message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": hostile_text()})
    accepted = st.lists(json_values(2), max_size=2)
    reply_kind = st.integers(0, 3)

    @st.composite
    def files(draw: Any) -> tuple[bytes, bytes | None, list[str]]:
        questions, answers, replies = [], [], []
        for i in range(draw(st.integers(1, 2))):
            cid = f"{draw(category)}_{i}-0-0"
            funcs = draw(functions)
            questions.append({"id": cid, "question": [[draw(message)]], "function": funcs})
            params = list(funcs[0]["parameters"]["properties"])
            answers.append({"id": cid, "ground_truth": [{funcs[0]["name"]: {p: draw(accepted) for p in params}}]})
            call = {"name": funcs[0]["name"], "arguments": {p: draw(json_values(2)) for p in params}}
            kind = draw(reply_kind)
            replies.append(json.dumps({"calls": [call]}) if kind < 2 else
                           '{"reply": "no call"}' if kind == 2 else json.dumps(draw(json_values())))
        qdata = edit_bytes(json_lines(mutate(questions, draw(mutations()))), draw(byte_edits()))
        adata = None if draw(st.booleans()) else edit_bytes(json_lines(mutate(answers, draw(mutations()))),
                                                             draw(byte_edits()))
        return qdata, adata, replies

    return files()


def check_bfcl_files(ctx: FuzzContext, value: tuple[bytes, bytes | None, list[str]]) -> None:
    """``load_bfcl`` of fuzzed question/answer files, then ``run_bfcl`` with a scripted model."""
    from agentspec.evals.bfcl import load_bfcl
    from agentspec.evals.bfcl_runner import run_bfcl
    from agentspec.runtime.scripted import ScriptedChatModel

    qdata, adata, replies = value
    qpath, apath = ctx.root / "bfcl_questions.json", ctx.root / "bfcl_answers.json"
    qpath.write_bytes(qdata)
    if adata is not None:
        apath.write_bytes(adata)
    cases = load_bfcl(qpath, apath if adata is not None else None)
    model = ScriptedChatModel(list(replies), default_reply='{"reply": "none"}')
    report = run_bfcl(cases, model, mode="validate", max_attempts=1)
    assert report["n"] == len(cases)


# ---- target: session files -----------------------------------------------------------------------

SESSION_NAMES = ["alpha", "beta"]


@functools.cache
def session_meta() -> Any:
    """``session.json`` bytes: the file ``AgentSession`` writes, mutated and damaged."""
    from hypothesis import strategies as st

    meta = {"name": "alpha", "created": 1.0, "updated": 2.0, "turns": 1, "user_id": "u", "spec": "retail"}
    return st.tuples(mutations(), byte_edits()).map(lambda t: edit_bytes(dump_json(mutate(meta, t[0])), t[1]))


def sessions_strategy(ctx: FuzzContext) -> Any:
    """``(session.json bytes or None per session, checkpoint byte edits or None, session name to trace)``."""
    from hypothesis import strategies as st

    files = st.lists(st.one_of(st.none(), session_meta()), min_size=len(SESSION_NAMES), max_size=len(SESSION_NAMES))
    checkpoint = st.one_of(st.none(), byte_edits())
    name = st.sampled_from([*SESSION_NAMES, "missing", "../alpha", "", "a" * 80, "ä"])
    return st.tuples(files, checkpoint, name)


def _checkpoint_template(path: Path) -> bytes:
    """A real ``checkpoints.sqlite`` holding one checkpoint with a trace (for byte mutations)."""
    import sqlite3

    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"trace": [{"turn": 1, "kind": "model", "output": "hi", "prompt_tokens": 3}]}
        checkpoint["channel_versions"] = {"trace": 1}
        SqliteSaver(conn).put({"configurable": {"thread_id": "alpha", "checkpoint_ns": ""}}, checkpoint, {},
                              {"trace": 1})
        conn.commit()
    finally:
        conn.close()
    return path.read_bytes()


def check_session_files(ctx: FuzzContext, value: tuple[list[bytes | None], Any, str]) -> None:
    """``list_sessions`` over fuzzed ``session.json`` files and ``read_session_trace`` of a session whose
    ``checkpoints.sqlite`` is fuzzed (or missing), with trace summaries as ``agentspec trace`` prints them."""
    from agentspec.graph.session import list_sessions, read_session_trace, sessions_dir
    from agentspec.graph.trace import summarize

    metas, checkpoint_edits, name = value
    for session, meta in zip(SESSION_NAMES, metas):
        folder = sessions_dir() / session
        folder.mkdir(parents=True, exist_ok=True)
        _put(folder / "session.json", meta)
        _put(folder / "checkpoints.sqlite",
             None if checkpoint_edits is None else edit_bytes(ctx.checkpoint_bytes, checkpoint_edits))
    for meta in list_sessions():
        assert isinstance(meta, dict)
    entries = read_session_trace(name)
    assert isinstance(entries, list)
    summarize([e for e in entries if isinstance(e, dict)])


def _put(path: Path, data: bytes | None) -> None:
    """Write ``data`` to ``path``; None removes the file."""
    if data is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(data)


# ---- target: episode files (a run directory) -----------------------------------------------------

def _episode(task_id: str, trial: int) -> dict[str, Any]:
    return {"task_id": task_id, "trial": trial, "seed": 0, "category": "cancel", "reward": 1.0, "db_match": True,
            "communicate_ok": True, "missing_info": [], "reasons": [], "termination": "user_stop", "error": None,
            "agent_turns": 2, "steps": 3, "valid_steps": 3, "invalid_steps": 0, "valid_step_share": 1.0,
            "hallucinated_ids": [], "policy_violations": [], "prompt_tokens": 10, "completion_tokens": 5,
            "seconds": 1.5, "agent_seconds_per_turn": 0.5, "turn_seconds": [0.5, 0.5],
            "tool_calls": {"get_order_details": {"calls": 1, "errors": 0}}, "messages": []}


def episodes_strategy(ctx: FuzzContext) -> Any:
    """``(run.json bytes, episodes.jsonl bytes)`` of a finished 2 tasks x 2 trials run, mutated."""
    from hypothesis import strategies as st

    run = {"task_ids": ["0", "1"], "trials": 2, "agent": "fuzz", "user": "scripted"}
    episodes = [_episode(t, k) for t in ("0", "1") for k in range(2)]

    @st.composite
    def run_dir(draw: Any) -> tuple[bytes, bytes]:
        run_bytes = edit_bytes(dump_json(mutate(run, draw(mutations()))), draw(byte_edits()))
        lines = [mutate(ep, draw(mutations())) if draw(st.booleans()) else ep for ep in episodes]
        return run_bytes, edit_bytes(json_lines(lines), draw(byte_edits()))

    return run_dir()


def check_run_dir(ctx: FuzzContext, value: tuple[bytes, bytes]) -> None:
    """``read_episodes`` (with repair) and ``build_report`` + ``report_markdown`` of a fuzzed run directory."""
    from agentspec.evals.harness import EPISODES_FILE, RUN_FILE, read_episodes
    from agentspec.evals.report import build_report, report_markdown

    folder = ctx.root / "run"
    folder.mkdir(exist_ok=True)
    (folder / RUN_FILE).write_bytes(value[0])
    (folder / EPISODES_FILE).write_bytes(value[1])
    try:
        report_markdown(build_report(folder, n_boot=20))
    finally:
        for record in read_episodes(folder / EPISODES_FILE, repair=True):
            assert isinstance(record, dict)
