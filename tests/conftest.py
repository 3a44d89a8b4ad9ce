"""Shared test set-up.

Tier 1 (fast) tests must never load a real model: an autouse fixture replaces the loaders of the
llama.cpp and transformers backends and of the reader's sentence encoder with ones that fail loudly,
unless the test is marked ``real``. Sessions built in the fast tier read messages with the keyword
``KeywordReader`` (``tests/fake_reader.py``) instead of the trained reader.
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
    import agentspec.routing.encoder as encoder
    import agentspec.routing.reader as reader

    from fake_reader import KeywordReader

    monkeypatch.setattr(encoder.SentenceEncoder, "load", classmethod(_forbidden))
    monkeypatch.setattr(reader, "load_reader", lambda path: KeywordReader())
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
