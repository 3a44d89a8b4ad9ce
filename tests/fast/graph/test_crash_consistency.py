"""Crashes lose nothing and run no write twice: kill -9 at steps of a turn, interrupted first starts,
one process per session, unreadable session files."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentspec.errors import AgentSpecError
from agentspec.evals.kills import run_kills
from agentspec.graph import AgentSession
from agentspec.graph.session import read_session_trace, sessions_dir
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.tools.retail import RetailStore
from fake_reader import KeywordReader
from kill_agent import SCRIPT

from conftest import tiny_shop

GRAPH_TESTS = Path(__file__).resolve().parent
TESTS = GRAPH_TESTS.parents[1]
# Right after a write commits, before its step's checkpoint: where a resumed turn would run the write
# again without its idempotency record.
AFTER_THE_WRITE = {"write:exit"}


@pytest.fixture
def kill_env(monkeypatch, shop_db):
    monkeypatch.setenv("AGENTSPEC_RETAIL_DB", str(shop_db))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(GRAPH_TESTS)]))


def test_kill_after_the_write_resumes_with_the_write_reported_once(kill_env):
    result = run_kills("kill_agent:cancel_session", SCRIPT, labels=AFTER_THE_WRITE)
    assert result["kills"] == 1 and result["clean_writes"] == 1
    assert (result["lost_turns"], result["duplicate_writes"], result["diverged"]) == (0, 0, 0), result["examples"]


def test_kills_spread_over_the_conversation_lose_nothing(kill_env):
    result = run_kills("kill_agent:cancel_session", SCRIPT, kills=5, workers=2)
    assert result["kills"] == 5 and result["events"] > 50
    assert (result["lost_turns"], result["duplicate_writes"], result["diverged"]) == (0, 0, 0), result["examples"]


def test_the_kill_check_sees_a_write_run_again_without_the_once_hook(kill_env):
    result = run_kills("kill_agent:cancel_session_without_once", SCRIPT, labels=AFTER_THE_WRITE)
    assert result["kills"] == 1
    assert result["duplicate_writes"] + result["diverged"] == 1  # the resumed cancel ran again (and failed)


def test_a_write_key_runs_once_and_a_refused_write_changes_nothing():
    store = RetailStore.from_json(tiny_shop())
    before = store.state_hash()
    runs = []

    def cancel() -> str:
        runs.append(1)
        return store.cancel_pending_order("#W0000002", "ordered by mistake")

    first, ran = store.once("s/1/4/0/x", cancel)
    again, ran_again = store.once("s/1/4/0/x", cancel)
    assert ran and not ran_again and again == first and len(runs) == 1
    after = store.state_hash()
    refused, ran = store.once("s/2/9/0/y", cancel)  # already cancelled: refused inside the transaction
    assert ran and refused.startswith("Error") and store.state_hash() == after != before
    store.close()


def test_an_interrupted_first_start_leaves_no_half_filled_store(tmp_path):
    target = tmp_path / "retail.sqlite"
    partial = tmp_path / ".retail.sqlite.partial"
    partial.write_bytes(b"half a store")  # what a Ctrl-C during creation leaves
    with RetailStore.from_json(tiny_shop(), db_path=target) as store:
        assert store.count("users") == 2
    assert target.exists() and not partial.exists()


def test_a_store_left_empty_by_an_older_version_is_a_clear_error(spec, shop_db):
    directory = sessions_dir() / "empty"
    directory.mkdir(parents=True)
    conn = sqlite3.connect(directory / "retail.sqlite")
    for table in ("products", "users", "orders"):
        conn.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    conn.close()
    with pytest.raises(AgentSpecError, match="holds no users") as err:
        AgentSession(spec, name="empty", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader())
    assert err.value.code == "corrupt_store" and "new session" in err.value.hint


def _saved_session(spec, shop_db, name="saved"):
    model = ScriptedChatModel([json.dumps({"reply": "Hello! Your email, please?"})])
    with AgentSession(spec, name=name, model=model, data=shop_db, reader=KeywordReader()) as s:
        s.send("hello")
    return sessions_dir() / name


@pytest.mark.parametrize("file, code", [("checkpoints.sqlite", "corrupt_checkpoints"),
                                        ("retail.sqlite", "corrupt_store")])
def test_a_corrupt_session_file_is_a_clear_error(spec, shop_db, file, code):
    directory = _saved_session(spec, shop_db)
    (directory / file).write_bytes(b"\x00garbage" * 100)
    for leftover in directory.glob(f"{file}-*"):  # the WAL beside it would mask the damage
        leftover.unlink()
    with pytest.raises(AgentSpecError) as err:
        AgentSession(spec, name="saved", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader())
    assert err.value.code == code and str(directory / file) in err.value.message
    # The lock was released: once the file is fixed, the session opens in this process.
    (directory / file).unlink()
    AgentSession(spec, name="saved", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader()).close()


def test_a_corrupt_session_json_is_rebuilt_and_the_conversation_kept(spec, shop_db):
    directory = _saved_session(spec, shop_db)
    (directory / "session.json").write_text('{"name": "saved", "turns": ')
    with AgentSession(spec, name="saved", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader()) as s:
        assert len(s.history()) >= 2
    meta = json.loads((directory / "session.json").read_text())
    assert meta["turns"] == 1 and meta["name"] == "saved"


def test_read_session_trace_refuses_a_path_outside_the_sessions_folder(spec, shop_db):
    _saved_session(spec, shop_db, name="inside")
    with pytest.raises(AgentSpecError) as err:
        read_session_trace("../sessions/inside")
    assert err.value.code == "unknown_session"


HOLDER = textwrap.dedent("""
    import sys
    sys.path[:0] = [sys.argv[3], sys.argv[4]]
    from fake_reader import KeywordReader
    from agentspec.graph import AgentSession
    from agentspec.runtime.scripted import ScriptedChatModel
    from agentspec.spec import load_spec
    with AgentSession(load_spec("retail"), name=sys.argv[1], model=ScriptedChatModel(), data=sys.argv[2],
                      reader=KeywordReader()):
        print("holding", flush=True)
        sys.stdin.readline()
""")


def test_a_second_process_on_one_session_gets_a_clear_error(tmp_path, spec, shop_db):
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), "shared", str(shop_db), str(TESTS), str(GRAPH_TESTS)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(AgentSpecError, match=f"another process \\(pid {holder.pid}\\)") as err:
            AgentSession(spec, name="shared", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader())
        assert err.value.code == "session_busy"
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    AgentSession(spec, name="shared", model=ScriptedChatModel(), data=shop_db, reader=KeywordReader()).close()


def test_the_repl_finishes_a_turn_a_kill_cut_off_and_reports_the_write(kill_env, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from agentspec.agent_repl import AgentRepl
    from agentspec.evals import kills
    from kill_agent import cancel_session

    clean = kills._child(tmp_path, "clean", "kill_agent:cancel_session", SCRIPT, kill_at=None, timeout=120)
    k = clean["final"]["labels"].index("write:exit") + 1
    killed = kills._child(tmp_path, "cut", "kill_agent:cancel_session", SCRIPT, kill_at=k, timeout=120)
    assert killed["killed"] and len(killed["replies"]) == 1  # the statement; the kill came before the report
    monkeypatch.setenv("AGENTSPEC_HOME", str(tmp_path))  # the children's home
    out = io.StringIO()
    with cancel_session("cut") as s:
        assert s.interrupted()
        AgentRepl(s, console=Console(file=out, width=200), read_line=lambda prompt: "/exit").run()
        assert not s.interrupted()
        writes = [e for e in s.trace() if e.get("kind") == "tool" and e["calls"][0]["name"] == "cancel_pending_order"]
    text = out.getvalue()
    assert "finishing it" in text and "Order #W0000002 has been cancelled" in text
    assert len(writes) == 1 and writes[0]["replayed"] is True and writes[0]["outcome"] == "ok"
