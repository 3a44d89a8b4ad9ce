"""Where the server keeps conversations: SQLite on one host, PostgreSQL shared by replicas (a throwaway
cluster, ``tests/pg_cluster.py``); the store, the shared checkpointer, the turn lock and the errors."""
from __future__ import annotations

import json
import socket
import sys
import threading
import time

import pytest

from agentspec.errors import AgentSpecError
from agentspec.graph import AgentSession
from agentspec.graph.session import sessions_dir
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.server.backing import open_backing
from agentspec.spec import load_spec
from pg_cluster import postgres_dsn  # noqa: F401
from test_server_api import _graph_fixtures

NS = ("agentspec", "test")


graph = _graph_fixtures()  # the graph tests' tiny shop and step helpers


@pytest.fixture(params=["sqlite", "postgres"])
def backing(request, tmp_path):
    database = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with open_backing(database, tmp_path / "home") as b:
        yield b


def test_store_round_trip(backing):
    backing.store.put(NS, "c1", {"owner": "shop", "holder": "agent", "turns": 1})
    backing.store.put(NS, "c2", {"owner": "desk", "holder": "human", "turns": 3})
    backing.store.put(NS, "c1", {"owner": "shop", "holder": "agent", "turns": 2})  # replaces
    assert backing.store.get(NS, "c1").value == {"owner": "shop", "holder": "agent", "turns": 2}
    assert backing.store.get(NS, "missing") is None
    assert [i.key for i in backing.store.search(NS, filter={"holder": "human"})] == ["c2"]
    assert sorted(i.key for i in backing.store.search(NS, limit=10)) == ["c1", "c2"]
    assert backing.store.search(("agentspec", "other")) == []
    backing.store.delete(NS, "c2")
    assert [i.key for i in backing.store.search(NS)] == ["c1"]


def test_store_is_usable_from_many_threads(backing):
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(15):
                backing.store.put(NS, f"t{t}-{i}", {"thread": t, "i": i})
                assert backing.store.get(NS, f"t{t}-{i}").value == {"thread": t, "i": i}
                backing.store.search(NS, filter={"thread": t}, limit=100)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(backing.store.search(NS, limit=1000)) == 6 * 15


def test_sqlite_keeps_records_in_the_home_folder(tmp_path):
    home = tmp_path / "home"
    with open_backing("sqlite", home) as b:
        assert (b.kind, b.checkpointer) == ("sqlite", None)
        b.store.put(NS, "k", {"v": 1})
        with b.turn_lock("c1"), b.turn_lock("c1"):  # a no-op: the session's file lock serialises a host
            pass
    assert (home / "server" / "server.sqlite").exists()
    with open_backing(None, home) as again:
        assert again.store.get(NS, "k").value == {"v": 1}


def test_two_replicas_on_one_database_share_rows(postgres_dsn, tmp_path):
    with open_backing(postgres_dsn, tmp_path / "a") as a, open_backing(postgres_dsn, tmp_path / "b") as b:
        assert a.kind == "postgres" and a.checkpointer is not None
        a.store.put(NS, "c1", {"owner": "shop"})
        assert b.store.get(NS, "c1").value == {"owner": "shop"}
        b.store.put(NS, "c1", {"owner": "desk"})
        assert a.store.get(NS, "c1").value == {"owner": "desk"}
        assert "postgres@" in a.where and "127.0.0.1" in a.where


def test_replicas_starting_together_set_up_the_tables_once(postgres_dsn, tmp_path):
    # LangGraph's setup() alone collides here (duplicate pg_type / migration rows); the advisory lock
    # serialises it. Threads race at the database exactly as processes do: each has its own pool.
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            b = open_backing(postgres_dsn, tmp_path)
        except BaseException as exc:  # noqa: BLE001 - compared below
            outcomes.append(exc)
        else:
            outcomes.append("ok")
            b.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == ["ok"] * 4


def test_turn_lock_excludes_a_second_holder_until_released(postgres_dsn, tmp_path):
    with open_backing(postgres_dsn, tmp_path) as a, open_backing(postgres_dsn, tmp_path) as b:
        with a.turn_lock("c1"):
            start = time.monotonic()
            with pytest.raises(AgentSpecError) as busy:
                with b.turn_lock("c1", timeout_s=0.3):
                    pytest.fail("two replicas held one conversation")
            assert busy.value.code == "conversation_busy" and "'c1'" in busy.value.message
            assert 0.3 <= time.monotonic() - start < 3
            with pytest.raises(AgentSpecError, match="busy"), a.turn_lock("c1"):  # also within one replica
                pass
            with b.turn_lock("c2"):  # another conversation is not held up
                pass
        with b.turn_lock("c1"):  # released on exit
            pass


def test_turn_lock_waits_for_the_holder(postgres_dsn, tmp_path):
    with open_backing(postgres_dsn, tmp_path) as a, open_backing(postgres_dsn, tmp_path) as b:
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with a.turn_lock("c1"):
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        threading.Timer(0.3, release.set).start()
        start = time.monotonic()
        with b.turn_lock("c1", timeout_s=10):
            waited = time.monotonic() - start
        holder.join(10)
        assert 0.2 <= waited < 5


def test_turn_lock_is_released_when_the_turn_fails(postgres_dsn, tmp_path):
    with open_backing(postgres_dsn, tmp_path) as a:
        with pytest.raises(RuntimeError), a.turn_lock("c1"):
            raise RuntimeError("the turn failed")
        with a.turn_lock("c1"):
            pass


def test_unreachable_database_fails_fast_with_the_url_masked(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://shop:s3cret@127.0.0.1:{port}/agentspec"
    start = time.monotonic()
    with pytest.raises(AgentSpecError) as err:
        open_backing(url, tmp_path)
    assert time.monotonic() - start < 6
    assert err.value.code == "database_unreachable"
    assert f"postgresql://shop:***@127.0.0.1:{port}/agentspec" in err.value.message
    assert "s3cret" not in str(err.value) and "PostgreSQL runs" in err.value.hint


@pytest.mark.parametrize("url", ["mysql://shop:s3cret@localhost/db", "sqlite:///tmp/x.sqlite", "server.sqlite",
                                 "postgresql://shop:s3cret@[::1/db"])
def test_bad_database_url(url, tmp_path):
    with pytest.raises(AgentSpecError) as err:
        open_backing(url, tmp_path)
    assert err.value.code == "bad_database_url" and "postgresql://" in err.value.hint
    assert "s3cret" not in str(err.value)


def test_missing_postgres_packages_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # import psycopg_pool -> ImportError
    with pytest.raises(AgentSpecError) as err:
        open_backing("postgresql://localhost/db", tmp_path)
    assert err.value.code == "missing_extra" and err.value.hint == "pip install 'agentspec[postgres]'"


def test_a_conversation_continues_in_another_session_through_the_shared_checkpointer(postgres_dsn, tmp_path):
    db = tmp_path / "shop.json"
    db.write_text(json.dumps(graph.tiny_shop()))
    spec = load_spec("retail")
    cancel = {"order_id": "#W0000002", "reason": "ordered by mistake"}
    steps = [graph.call("find_user_id_by_email", email="alice@example.com"),
             graph.call("get_order_details", order_id="#W0000002"), graph.call("cancel_pending_order", **cancel)]
    with open_backing(postgres_dsn, tmp_path) as first:
        with AgentSession(spec, name="c1", model=ScriptedChatModel(steps, context_length=8192), data=db,
                          checkpointer=first.checkpointer) as s:
            assert s.send("cancel #W0000002, I'm alice@example.com, I ordered it by mistake").reply.startswith(
                "I'm about to cancel order #W0000002")
    # Another replica: no model step is needed, the pending action and the user come from PostgreSQL.
    with open_backing(postgres_dsn, tmp_path) as second:
        with AgentSession(spec, name="c1", model=ScriptedChatModel([], context_length=8192), data=db,
                          checkpointer=second.checkpointer) as s:
            assert len(s.history()) == 4 and s.state["user_id"] == "alice_smith_1001"
            done = s.send("yes")
            assert [c["name"] for c in done.tool_calls] == ["cancel_pending_order"]
            assert done.reply.startswith("Order #W0000002 has been cancelled")
        saved = second.checkpointer.get_tuple({"configurable": {"thread_id": "c1"}})
        assert saved is not None and saved.checkpoint["channel_values"]["user_id"] == "alice_smith_1001"
    assert not (sessions_dir() / "c1" / "checkpoints.sqlite").exists()  # nothing went to the local file
