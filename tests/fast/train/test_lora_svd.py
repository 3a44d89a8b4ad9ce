"""SVD profiling: effective-rank figures on known spectra, low-rank shortcut, reports and suggestions."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agentspec.train.svd import lowrank_singular_values, matrix_stats, noise_floor, profile, suggest_rank
from tiny_lora_fixtures import tiny_llama


def test_effective_rank_of_known_spectra():
    flat = matrix_stats(np.ones(16))
    assert flat["erank"] == pytest.approx(16) and flat["r90"] == 15 and flat["stable_rank"] == pytest.approx(16)
    spiked = matrix_stats(np.array([10.0, 0.1, 0.1, 0.1]))
    assert spiked["r90"] == 1 and spiked["erank"] < 1.2


def test_low_rank_shortcut_equals_full_svd():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 50)), rng.normal(size=(30, 4))
    full = np.linalg.svd(2.0 * b @ a, compute_uv=False)[:4]
    np.testing.assert_allclose(lowrank_singular_values(a, b, 2.0), full, rtol=1e-10)


def test_rank_suggestion_and_quantization_noise_floor():
    assert suggest_rank([3, 3, 5, 2], trained_rank=16)["rank"] == 8
    limited = suggest_rank([8, 8, 8, 7], trained_rank=8)
    assert limited["rank_limited"] and limited["rank"] == 16
    w = np.random.default_rng(0).normal(size=(64, 128))
    assert noise_floor(w, 255) < noise_floor(w, 15) < noise_floor(w, 7)


def test_profile_of_a_peft_adapter_writes_json_and_pngs(tmp_path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(tiny_llama(), LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                    init_lora_weights=False))
    model.save_pretrained(str(tmp_path / "run" / "adapter"))
    summary = profile(tmp_path / "run", tmp_path / "svd")
    assert summary["kind"] == "adapter" and summary["matrices"] == 4 and summary["rank"] == 8
    assert summary["suggested_rank"]["rank"] in (8, 16)
    assert summary["suggested_quant"]["type"] is None  # no base GGUF known: said so, not guessed
    data = json.loads((tmp_path / "svd" / "svd.json").read_text())
    assert len(data["per_matrix"][0]["singular_values"]) == 8
    assert (tmp_path / "svd" / "spectra.png").exists() and (tmp_path / "svd" / "effective_rank.png").exists()
