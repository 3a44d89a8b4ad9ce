"""The step processor on the transformers loop's hook signature: ``(ids: list[int], logits: torch.Tensor)``.

No model: a fake matcher stands in for llguidance (as in test_engine.py's numpy tests), so these run
in the fast tier. The real-model counterpart is tests/real/test_decoding_transformers_real.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from agentspec.decoding.constraint import StepLogitsProcessor, apply_mask
from agentspec.errors import ConstrainedDecodingUnavailableError
from fake_matcher import FakeMatcher

torch = pytest.importorskip("torch")


def _allowed(scores) -> set[int]:
    return set(torch.isfinite(scores).nonzero().flatten().tolist())


def test_processor_masks_torch_logits_in_place_under_inference_mode():
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    prompt = [9, 9, 9]
    with torch.inference_mode():  # the generation loop's context: logits are inference tensors
        logits = torch.randn(40)
        out = proc(prompt, logits)
        assert out is logits and _allowed(logits) == {5, 6}
        second = proc(prompt + [5], torch.randn(40))
    assert _allowed(second) == {0} and proc.consumed == [5] and proc.error is None
    proc.verify(1)


def test_logits_longer_than_the_mask_buffer_are_cut_to_the_vocabulary():
    # The bitmask has 32-token words: 40 tokens -> 64 bits; only the first 40 apply.
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    assert _allowed(proc([1], torch.zeros(40))) == {5, 6}
    allowed = np.zeros(64, dtype=bool)
    allowed[[3, 39, 50]] = True
    assert _allowed(apply_mask(torch.zeros(40), allowed)) == {3, 39}


def test_sampling_outside_the_mask_forces_eos_and_verify_refuses():
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0, 2])
    with torch.inference_mode():
        proc([9], torch.zeros(40))
        out = proc([9, 7], torch.zeros(40))  # 7 was masked: the backend ignored the mask
    assert _allowed(out) == {0, 2}
    with pytest.raises(ConstrainedDecodingUnavailableError, match="forbids"):
        proc.verify(1)


def test_failure_inside_the_hook_is_recorded_not_raised(monkeypatch):
    import agentspec.decoding.constraint as constraint_module

    def broken(scores, allowed):
        raise ImportError("numba is required")

    monkeypatch.setattr(constraint_module, "apply_mask", broken)
    proc = StepLogitsProcessor(FakeMatcher(), vocab_size=40, eos_ids=[0])
    with torch.inference_mode():
        out = proc([9], torch.zeros(40))
    assert _allowed(out) == {0}
    with pytest.raises(ConstrainedDecodingUnavailableError, match="numba"):
        proc.verify(0)
