"""The shared live shop (the retail config's ``store``, or ``$AGENTSPEC_RETAIL_STORE``): every session
acts on one store, so one conversation's writes are what the next sees; created once even when several
processes start together; a broken file is a clear error that names the fix."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from agentspec.errors import AgentSpecError
from agentspec.tools.retail._session import open_session

from retail_fixture import tiny_db


@pytest.fixture
def db_json(tmp_path) -> Path:
    path = tmp_path / "db.json"
    path.write_text(json.dumps(tiny_db()))
    return path


def test_sessions_of_a_shared_shop_see_each_others_writes(tmp_path, db_json):
    config = {"db": str(db_json), "store": str(tmp_path / "shop" / "retail.sqlite")}
    first = open_session(config, tmp_path / "s1", None)
    assert "cancelled" in first.invoke("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    first.close()
    second = open_session(config, tmp_path / "s2", None)  # a saved session: no copy of its own
    ephemeral = open_session(config, None, None)
    try:
        for store in (second, ephemeral):
            assert json.loads(store.invoke("get_order_details", {"order_id": "#W1"}))["status"] == "cancelled"
        assert not (tmp_path / "s2" / "retail.sqlite").exists()
    finally:
        second.close()
        ephemeral.close()


def test_the_environment_names_the_shared_shop_and_a_session_with_its_own_copy_keeps_it(tmp_path, db_json,
                                                                                     monkeypatch):
    (tmp_path / "mine").mkdir()
    own = open_session({"db": str(db_json)}, tmp_path / "mine", None)  # the default: a copy per session
    own.invoke("cancel_pending_order", {"order_id": "#W1", "reason": "ordered by mistake"})
    own.close()
    monkeypatch.setenv("AGENTSPEC_RETAIL_STORE", str(tmp_path / "shared.sqlite"))
    resumed = open_session({"db": str(db_json)}, tmp_path / "mine", None)
    fresh = open_session({"db": str(db_json)}, tmp_path / "other", None)
    try:
        assert json.loads(resumed.invoke("get_order_details", {"order_id": "#W1"}))["status"] == "cancelled"
        assert json.loads(fresh.invoke("get_order_details", {"order_id": "#W1"}))["status"] == "pending"
        assert (tmp_path / "shared.sqlite").is_file()
    finally:
        resumed.close()
        fresh.close()


def _open_and_count(config: dict, folder: str, queue) -> None:
    store = open_session(config, Path(folder), None)
    queue.put(store.count("users"))
    store.close()


def test_processes_starting_together_create_the_shop_once(tmp_path, db_json):
    config = {"db": str(db_json), "store": str(tmp_path / "shop.sqlite")}
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_open_and_count, args=(config, str(tmp_path / f"s{i}"), queue)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert sorted(queue.get(timeout=5) for _ in workers) == [len(tiny_db()["users"])] * 4
    assert not list(tmp_path.glob(".shop.sqlite.partial*"))


def test_a_broken_shared_shop_is_a_clear_error_naming_the_fix(tmp_path, db_json):
    shop = tmp_path / "shop.sqlite"
    shop.write_bytes(b"not a database at all" * 100)
    with pytest.raises(AgentSpecError) as caught:
        open_session({"db": str(db_json), "store": str(shop)}, tmp_path / "s", None)
    assert caught.value.code == "corrupt_store" and "remove it to start the shop again" in caught.value.hint
    assert shop.read_bytes().startswith(b"not a database")  # nothing overwritten


def test_an_unknown_option_names_the_ones_it_takes(db_json):
    with pytest.raises(AgentSpecError, match="does not take shop") as caught:
        open_session({"db": str(db_json), "shop": "x"}, None, None)
    assert "`store`" in caught.value.hint
