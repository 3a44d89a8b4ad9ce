"""Shared test set-up.

Tier 1 (fast) tests must never load a real model: an autouse fixture replaces the loaders of the
llama.cpp and transformers backends with ones that fail loudly, unless the test is marked ``real``.
Every test gets its own AGENTSPEC_HOME so nothing leaks into the user's cache, except real-model
tests, which share one per session (deriving the Q8_0 model once).
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _forbidden(*args, **kwargs):
    raise AssertionError("a fast-tier test tried to load a real model; mark it @pytest.mark.real")


@pytest.fixture(scope="session")
def real_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agentspec-home")


@pytest.fixture(autouse=True)
def _isolate(request, monkeypatch, tmp_path, real_home):
    if request.node.get_closest_marker("real"):
        monkeypatch.setenv("AGENTSPEC_HOME", str(real_home))
        return
    monkeypatch.setenv("AGENTSPEC_HOME", str(tmp_path / "home"))
    import agentspec.runtime.llamacpp as llamacpp_backend

    monkeypatch.setattr(llamacpp_backend, "load_llama", _forbidden)
    try:
        import agentspec.runtime.transformers as hf_backend

        monkeypatch.setattr(hf_backend, "load_hf", _forbidden)
    except ImportError:
        pass


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}; tests read it from ../shared/data")
    return SHARED_DATA
