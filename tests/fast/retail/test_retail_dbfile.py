"""A broken db.json (truncated, not UTF-8, of another shape) is a clear error naming the file, never a traceback."""
from __future__ import annotations

import json

import pytest

from agentspec.errors import AgentSpecError
from agentspec.evals.harness import UserFactory, run_suite
from agentspec.evals.agents import AgentFactory
from agentspec.tools.retail import load_toolkit, read_db_json

from retail_fixture import tiny_db

GOOD = json.dumps(tiny_db())
BROKEN = [
    (GOOD[: len(GOOD) // 2], "invalid JSON at line 1"),
    (b"\xff" + GOOD.encode(), "not UTF-8 (byte 0xff at offset 0)"),
    ("[]", "the top level is a JSON list"),
    (json.dumps({"users": {}, "orders": {}}), "top-level keys are ['orders', 'users']"),
    (json.dumps({**tiny_db(), "users": []}), "'users' is a JSON list"),
    (json.dumps({**tiny_db(), "users": {"x": "not an object"}}), "users['x'] is not an object whose user_id is 'x'"),
]


@pytest.mark.parametrize("content, problem", BROKEN)
def test_a_broken_db_json_is_a_clear_error(tmp_path, content, problem):
    path = tmp_path / "db.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for load in (read_db_json, load_toolkit):
        with pytest.raises(AgentSpecError, match="is not a retail db.json") as raised:
            load(path)
        assert problem in raised.value.message and str(path) in raised.value.message
        assert raised.value.code == "retail_db" and raised.value.hint


def test_a_good_db_json_loads(tmp_path):
    path = tmp_path / "db.json"
    path.write_text(GOOD)
    assert read_db_json(path) == tiny_db()
    with load_toolkit(path) as store:
        assert store.count("users") == len(tiny_db()["users"])


def test_a_missing_db_json_is_a_clear_error(tmp_path):
    with pytest.raises(AgentSpecError, match="cannot read the retail db"):
        read_db_json(tmp_path / "gone.json")


def test_eval_tau_refuses_a_broken_db_before_running(tmp_path):
    path = tmp_path / "db.json"
    path.write_text(GOOD[:100])
    with pytest.raises(AgentSpecError, match="is not a retail db.json"):
        run_suite([object()], path, AgentFactory("oracle"), UserFactory(), 1, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing was written
