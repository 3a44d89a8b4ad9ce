"""Worker processes share the cores: each worker's llama.cpp model gets cores // workers threads.

The model loader is replaced by one that records the thread count it was given and stops, so this
checks what actually reaches llama.cpp, with no real model loaded and no process spawned.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from tau_fixture import REAL_DB, scenario

import agentspec.runtime.llamacpp as llamacpp_backend
from agentspec.evals import harness
from agentspec.evals.agents import AgentFactory, worker_threads
from agentspec.evals.generate import generate_suite
from agentspec.evals.harness import UserFactory
from agentspec.evals.tasks import load_tasks


class Loaded(Exception):
    """Raised by the fake loader once it has recorded its arguments."""


@pytest.fixture
def loads(monkeypatch):
    seen: list[int] = []

    def fake_load_llama(path, *, n_ctx, n_threads, seed, n_batch=512):
        seen.append(n_threads)
        raise Loaded

    monkeypatch.setattr(llamacpp_backend, "load_llama", fake_load_llama)
    # Reading the real GGUF's metadata takes seconds; the file does not matter here.
    monkeypatch.setattr(llamacpp_backend, "resolve_model", lambda model: (Path(f"{model}.gguf"), None))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    return seen


def _spec(tmp_path, threads: str = "null") -> str:
    path = tmp_path / f"spec-{threads}.yaml"
    path.write_text(f"name: t\nmodel: {{name: smollm2-135m-q4_1, n_ctx: 2048, threads: {threads}}}\n"
                    "toolkits: [{name: retail}]\nprompts: {system: retail_system.j2}\n"
                    "messages: {stopped: Please say that again.}\n")
    return str(path)


class FakePool:
    """Stands in for the process pool: keeps the initializer's arguments, runs nothing."""

    made: list[tuple] = []

    def __init__(self, max_workers, mp_context, initializer, initargs):
        FakePool.made.append((max_workers, initargs))
        raise Loaded


def _pool_factories(monkeypatch, agent_factory, user_factory, workers, n_todo=8):
    """The (agent factory, user factory) the harness hands each worker of a pool of ``workers``."""
    FakePool.made.clear()
    monkeypatch.setattr(harness, "ProcessPoolExecutor", FakePool)
    todo = [(str(i), 0) for i in range(n_todo)]
    with pytest.raises(Loaded):
        list(harness._execute(todo, [], REAL_DB, agent_factory, user_factory, 30, 0, workers))
    (max_workers, initargs), = FakePool.made
    assert max_workers == min(workers, n_todo)
    return initargs[2], initargs[3]


def test_worker_threads_divides_the_cores():
    assert [worker_threads(w, cores=8) for w in (1, 2, 3, 4, 8, 16)] == [8, 4, 2, 2, 1, 1]
    assert worker_threads(2, cores=2) == 1


@pytest.mark.parametrize("workers,expected", [(2, 4), (4, 2), (3, 2), (16, 1)])
def test_each_workers_model_gets_cores_over_workers_threads(tmp_path, monkeypatch, loads, workers, expected):
    agent, _ = _pool_factories(monkeypatch, AgentFactory.of("spec", spec=_spec(tmp_path)), UserFactory(),
                               workers, n_todo=16)
    with pytest.raises(Loaded):
        agent({})  # what a worker's initializer does: build the agent, hence its model
    assert loads == [expected]


def test_the_pool_never_counts_more_workers_than_episodes(tmp_path, monkeypatch, loads):
    agent, _ = _pool_factories(monkeypatch, AgentFactory.of("spec", spec=_spec(tmp_path)), UserFactory(), 4,
                               n_todo=2)
    with pytest.raises(Loaded):
        agent({})
    assert loads == [4]


def test_threads_the_user_chose_win(tmp_path, monkeypatch, loads):
    in_spec, _ = _pool_factories(monkeypatch, AgentFactory.of("spec", spec=_spec(tmp_path, "3")), UserFactory(), 4)
    explicit, _ = _pool_factories(monkeypatch, AgentFactory.of("spec", spec=_spec(tmp_path, "3"), threads=5),
                                  UserFactory(), 4)
    for factory in (in_spec, explicit):
        with pytest.raises(Loaded):
            factory({})
    assert loads == [3, 5]


def test_the_llm_users_model_is_divided_too(tmp_path, monkeypatch, loads):
    _, user = _pool_factories(monkeypatch, AgentFactory("oracle"),
                              UserFactory("llm", model="smollm2-135m-q4_1"), 4)
    monkeypatch.setattr(harness, "_USER_MODELS", {})
    with pytest.raises(Loaded):
        user(scenario())
    _, chosen = _pool_factories(monkeypatch, AgentFactory("oracle"),
                                UserFactory("llm", model="smollm2-135m-q4_1", threads=1), 4)
    with pytest.raises(Loaded):
        chosen(scenario())
    assert loads == [2, 1]


def test_one_worker_runs_in_process_with_the_models_default(tmp_path, monkeypatch, loads):
    suite = tmp_path / "suite"
    generate_suite(REAL_DB, suite, 1, seed=0)
    tasks = load_tasks(suite / "tasks.json")
    with pytest.raises(Loaded):
        list(harness._execute([(tasks[0].id, 0)], tasks, REAL_DB, AgentFactory.of("spec", spec=_spec(tmp_path)),
                              UserFactory(), 30, 0, 1))
    assert loads == [8]  # all cores, the backend's default


def test_thread_settings_are_not_part_of_the_runs_identity(tmp_path):
    factory = AgentFactory.of("spec", spec="retail")
    assert repr(factory.for_workers(4)) == repr(AgentFactory.of("spec", spec="retail", threads=2)) == repr(factory)
    assert repr(UserFactory("llm").for_workers(2)) == repr(UserFactory("llm", threads=1)) == repr(UserFactory("llm"))
