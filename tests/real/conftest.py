"""Tier 2: the real bundled SmolLM2-135M GGUF (seeded). Every test here is marked ``real``."""
from __future__ import annotations

import pytest

from agentspec.runtime.base import GenerationSettings
from agentspec.spec import load_spec


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/real/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def llama_model(real_home_session):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(n_ctx=2048, seed=0)


@pytest.fixture(scope="session")
def hf_model(real_home_session):
    """The same GGUF through transformers (dequantized once per session), on CPU, one torch thread.

    One thread for the same reason as llama.cpp's ``n_threads=1`` in these tests: on a shared
    2-core machine, multi-thread kernels stall when another process holds a core.
    """
    import torch

    from agentspec.runtime.transformers import TransformersChatModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield TransformersChatModel("smollm2-135m", device="cpu", seed=0)
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_home_session(real_home):
    # Session-scoped fixtures run before the per-test env is set: point the cache there explicitly.
    import os

    old = os.environ.get("AGENTSPEC_HOME")
    os.environ["AGENTSPEC_HOME"] = str(real_home)
    yield real_home
    if old is None:
        os.environ.pop("AGENTSPEC_HOME", None)
    else:
        os.environ["AGENTSPEC_HOME"] = old


GREEDY = GenerationSettings(max_tokens=40, temperature=0.0)
SAMPLED = GenerationSettings(max_tokens=40, temperature=0.8, top_p=0.95, top_k=40, seed=1234)


@pytest.fixture
def spec():
    """The shipped retail spec on 2 threads, without long-term memory or retrieval (a file may override it)."""
    spec = load_spec("retail")
    return spec.model_copy(update={"model": spec.model.model_copy(update={"threads": 2}), "memory": None,
                                   "retrieval": None})
