"""Long-term memory on mem0 over the durable faiss store: scoping, supersession, forgetting, crash safety."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agentspec.errors import AgentSpecError
from agentspec.memory.store import Fact, MemoryStore
from agentspec.memory.vectors import DurableFaiss
from fake_reader import HashingEncoder

REPO = Path(__file__).resolve().parents[3]


def open_store(folder: Path) -> MemoryStore:
    return MemoryStore.open(folder, encoder=HashingEncoder())


def address(text: str) -> Fact:
    return Fact(f"Ships to {text}", "address", text, "address")


def test_a_memory_comes_back_with_its_source_and_only_for_its_user(tmp_path):
    store = open_store(tmp_path)
    store.remember("ann", [address("1 Oak St Austin")], session="s1", turn=2)
    store.remember("bob", [address("9 Elm Rd Boston")], session="s2", turn=1)
    found = store.recall("ann", "ships to oak st", k=5)
    assert [m.text for m in found] == ["Ships to 1 Oak St Austin"]
    assert (found[0].session, found[0].turn, found[0].user_id) == ("s1", 2, "ann") and found[0].time
    assert [m.text for m in store.recall("bob", "oak st austin", k=5)] == ["Ships to 9 Elm Rd Boston"]
    assert store.recall(None, "oak", k=5) == [] and store.recall("", "oak", k=5) == []
    with pytest.raises(ValueError):
        store.remember("", [address("x")], session="s", turn=0)
    store.close()


def test_a_newer_fact_of_a_key_supersedes_the_older_and_both_are_kept(tmp_path):
    store = open_store(tmp_path)
    old = store.remember("ann", [address("1 Oak St")], session="s1", turn=1)[0]
    assert store.remember("ann", [address("1 Oak St")], session="s2", turn=1) == []  # the same again: nothing new
    new = store.remember("ann", [address("5 Pine Ave")], session="s3", turn=4)[0]
    everything = {m.id: m for m in store.memories("ann")}
    assert everything[old.id].superseded_by == new.id and "newer address" in everything[old.id].reason
    assert everything[new.id].live
    assert [m.id for m in store.recall("ann", "ships to oak st", k=5)] == [new.id]
    store.close()


def test_forget_removes_a_user_from_index_records_and_history(tmp_path):
    store = open_store(tmp_path)
    store.remember("ann", [address("1 Oak St"), Fact("Refunds go to PayPal", "refund_method", "paypal_1", "payment_method")],
                   session="s1", turn=1)
    store.remember("bob", [address("9 Elm Rd")], session="s2", turn=1)
    assert store.forget("ann") == 2
    assert store.memories("ann") == [] and store.recall("ann", "oak paypal", k=5) == []
    assert store.vectors.aligned() and store.vectors.count() == 1
    store.close()
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        texts = " ".join(str(r) for r in db.execute("SELECT old_memory, new_memory FROM history"))
    assert "Oak" not in texts and "PayPal" not in texts and "Elm" in texts
    reopened = open_store(tmp_path)
    assert reopened.memories("ann") == [] and len(reopened.memories("bob")) == 1
    reopened.close()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["oak", "elm", "pine", "paypal", "visa", "mug", "lamp"])),
                min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_no_user_ever_recalls_another_users_memory(tmp_path_factory, writes, rng):
    store = open_store(tmp_path_factory.mktemp("fuzz"))
    owner: dict[str, str] = {}
    for turn, (user, word) in enumerate(writes):
        text = f"user{user} secret {word} {rng.randint(0, 10**6)}"
        for memory in store.remember(f"u{user}", [Fact(text, f"k{turn}", text)], session=f"s{user}", turn=turn):
            owner[memory.id] = f"u{user}"
    for user in range(8):
        # Adversarial queries: other users' words, their user ids, their secrets.
        for query in ("secret", f"user{(user + 1) % 8} secret", "show me u3's history", "oak elm pine paypal visa"):
            for memory in store.recall(f"u{user}", query, k=10):
                assert owner[memory.id] == f"u{user}" and memory.user_id == f"u{user}"
    store.close()


def test_another_process_commits_are_seen_by_an_open_store(tmp_path):
    first = open_store(tmp_path)
    second = open_store(tmp_path)
    second.remember("ann", [address("1 Oak St")], session="s1", turn=1)
    assert [m.text for m in first.recall("ann", "oak st", k=3)] == ["Ships to 1 Oak St"]
    first.close(), second.close()


def test_a_corrupt_store_is_a_clear_error_and_nothing_is_overwritten(tmp_path):
    (tmp_path / "memories.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(AgentSpecError) as err:
        open_store(tmp_path)
    assert err.value.code == "memory_corrupt" and "memories.sqlite" in err.value.message and err.value.hint
    assert (tmp_path / "memories.sqlite").read_bytes().startswith(b"this is not")


def test_vectors_of_another_width_are_named(tmp_path):
    DurableFaiss(tmp_path / "m.sqlite", dims=8).insert([[1.0] * 8], [{"user_id": "a"}], ["x"])
    with pytest.raises(AgentSpecError) as err:
        DurableFaiss(tmp_path / "m.sqlite", dims=384)
    assert err.value.code == "memory_dimension"


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from agentspec.memory.store import Fact, MemoryStore
from fake_reader import HashingEncoder
store = MemoryStore.open({folder!r}, encoder=HashingEncoder())
print("ready", flush=True)
i = 0
while True:
    store.remember(f"u{{i % 5}}", [Fact(f"fact {{i}} about oak", f"k{{i}}", str(i))], session="s", turn=i)
    i += 1
"""


def test_kill_9_during_writes_leaves_index_and_records_aligned(tmp_path):
    folder = tmp_path / "mem"
    rng = random.Random(7)
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(tests=str(REPO / "tests"), folder=str(folder))],
                                stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2 + rng.random() * 0.6)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = open_store(folder)
        assert store.vectors.aligned()
        rows = sqlite3.connect(folder / "memories.sqlite").execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        assert rows > 0 and store.vectors.count() == rows
        assert all(m.user_id == "u1" for m in store.recall("u1", "fact about oak", k=50))
        store.close()


def test_the_memory_commands_list_and_forget_one_customer(tmp_path):
    import json

    from click.testing import CliRunner

    from agentspec.cli import cli

    store = open_store(tmp_path)
    store.remember("ann", [address("1 Oak St")], session="s1", turn=1)
    store.remember("ann", [address("5 Pine Ave")], session="s2", turn=3)
    store.remember("bob", [address("9 Elm Rd")], session="s3", turn=1)
    store.close()
    runner = CliRunner()
    listed = runner.invoke(cli, ["memory", "list", "--user", "ann", "--path", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["memories"]
    assert [(r["text"], r["superseded_by"] is None) for r in rows] == [("Ships to 1 Oak St", False), ("Ships to 5 Pine Ave", True)]
    table = runner.invoke(cli, ["memory", "list", "--user", "ann", "--path", str(tmp_path)], env={"COLUMNS": "200"})
    assert "5 Pine Ave" in table.output and "superseded" in table.output and "Elm" not in table.output
    refused = runner.invoke(cli, ["memory", "forget", "--user", "ann", "--path", str(tmp_path)], input="n\n")
    assert refused.exit_code != 0 and len(open_store(tmp_path).memories("ann")) == 2
    forgot = runner.invoke(cli, ["memory", "forget", "--user", "ann", "--path", str(tmp_path), "--yes"])
    assert forgot.exit_code == 0 and "Forgot 2 memories of ann" in forgot.output
    left = open_store(tmp_path)
    assert left.memories("ann") == [] and len(left.memories("bob")) == 1
    missing = runner.invoke(cli, ["memory", "list", "--user", "ann", "--path", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no memory store in" in missing.output and "Hint" in missing.output
