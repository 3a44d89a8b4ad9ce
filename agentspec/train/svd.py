"""Singular-value profiles of LoRA adapters and model weights (``agentspec train svd``).

Contract:
- Input: a peft adapter folder (the ``--out`` of ``train lora`` or its ``adapter/``), a GGUF LoRA
  adapter (``general.type=adapter``) or a GGUF model. For an adapter the matrix analysed is the
  update ``dW = alpha/r * B @ A`` of each layer and module (its spectrum comes from an r x r SVD
  after two QR factorisations, never from the full matrix); for a model, each 2-D weight except the
  token embeddings (dequantized; ``embeddings=True`` includes them).
- Per matrix: singular values, entropy effective rank ``exp(H(s / sum s))`` (Roy & Vetterli 2007),
  ``r90`` (fewest directions holding 90% of the energy sum s^2) and the stable rank ``|W|_F^2 / s1^2``.
- Outputs in ``out``: ``svd.json`` (all of it plus the suggestions), ``spectra.png`` (mean normalized
  spectrum per module type, log scale) and ``effective_rank.png`` (r90 per layer per module).

Heuristics (suggestions, not guarantees):
- LoRA rank (adapters): the next power of two >= the 90th percentile of r90 over all matrices (at
  least 2). If r90 reaches the trained rank in more than a quarter of the matrices, the adapter was
  rank-limited: suggest twice the rank.
- Quantization level (models; adapters when their base GGUF is known): a quantizer with step Delta per
  block of 32 adds noise of std ``sigma = rms(Delta) / sqrt(12)``; a random m x n matrix of such noise has
  spectral norm about ``sigma (sqrt m + sqrt n)``. Directions with singular values below that floor are
  drowned. Delta per block: range/255 (Q8_0), range/15 (Q4_K_M), range/7 (Q3_K_M). For a model, the
  suggestion is the smallest type that drowns < 1% of the weight energy on average; for an adapter,
  the smallest type under which >= 90% of the update's energy stays above its base matrix's floor
  (else: keep the adapter separate, applied in float on top of the quantized base).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.train._report import line_chart, write_json

__all__ = ["matrix_stats", "profile", "suggest_rank", "noise_floor", "QUANT_LEVELS"]

QUANT_LEVELS = {"Q8_0": 255, "Q4_K_M": 15, "Q3_K_M": 7}  # quantization steps per block range (see above)
_MODULES = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_output": "o_proj",
            "ffn_gate": "gate_proj", "ffn_up": "up_proj", "ffn_down": "down_proj"}


def matrix_stats(s: np.ndarray) -> dict[str, Any]:
    """Effective-rank figures of one spectrum (singular values, any order)."""
    s = np.sort(np.abs(np.asarray(s, dtype=np.float64)))[::-1]
    if s.size == 0 or s[0] <= 0:
        return {"singular_values": [], "erank": 0.0, "r90": 0, "stable_rank": 0.0}
    p = s / s.sum()
    entropy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
    energy = np.cumsum(s**2) / np.sum(s**2)
    return {"singular_values": [float(x) for x in s], "erank": round(math.exp(entropy), 3),
            "r90": int(np.searchsorted(energy, 0.9) + 1), "stable_rank": round(float(np.sum(s**2) / s[0] ** 2), 3)}


def lowrank_singular_values(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Singular values of scale * B @ A (B [out, r], A [r, in]) without forming it."""
    qb, rb = np.linalg.qr(b.astype(np.float64))
    qa, ra = np.linalg.qr(a.astype(np.float64).T)
    return np.linalg.svd(scale * rb @ ra.T, compute_uv=False)


def noise_floor(w: np.ndarray, levels: int, block: int = 32) -> float:
    """Spectral norm of the noise a block quantizer with ``levels`` steps would add to ``w`` [out, in]."""
    cols = w.shape[1] - w.shape[1] % block or w.shape[1]
    blocks = w[:, :cols].reshape(w.shape[0], -1, min(block, cols))
    step = (blocks.max(axis=2) - blocks.min(axis=2)) / levels
    sigma = math.sqrt(float(np.mean(step.astype(np.float64) ** 2)) / 12)
    return sigma * (math.sqrt(w.shape[0]) + math.sqrt(w.shape[1]))


def suggest_rank(r90s: list[int], trained_rank: int | None) -> dict[str, Any]:
    if not r90s:
        return {"rank": None, "why": "no matrices"}
    p90 = float(np.percentile(r90s, 90))
    rank = max(2, 2 ** math.ceil(math.log2(max(p90, 1))))
    saturated = trained_rank is not None and sum(r >= trained_rank for r in r90s) > len(r90s) / 4
    if saturated:
        rank = 2 * trained_rank
    return {"rank": rank, "p90_r90": p90, "rank_limited": saturated,
            "why": ("r90 reached the trained rank in > 1/4 of the matrices: the update wants more directions"
                    if saturated else "next power of two >= 90th percentile of r90")}


def _split(name: str) -> tuple[int, str]:
    parts = name.split(".")  # blk.N.attn_q.weight
    return int(parts[1]), _MODULES.get(parts[2], parts[2])


def _dequantized(t: Any) -> np.ndarray:
    from gguf.quants import dequantize

    return dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])


def _adapter_matrices(path: Path, base: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-matrix records with spectra, info) for a peft folder or a GGUF adapter."""
    from agentspec.train.export import GGUF_NAMES, load_peft_adapter

    info: dict[str, Any] = {}
    if path.is_dir():
        ad = load_peft_adapter(path, base)
        pairs = {f"blk.{layer}.{GGUF_NAMES[m]}.weight": ab for (layer, m), ab in ad.pairs.items()}
        scale, rank, info["base_gguf"] = ad.scale, ad.rank, ad.base_gguf
    else:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        tensors = {t.name: t for t in reader.tensors}
        pairs = {n[: -len(".lora_a")]: (_dequantized(t), _dequantized(tensors[n[:-1] + "b"]))
                 for n, t in tensors.items() if n.endswith(".lora_a")}
        rank = next(iter(pairs.values()))[0].shape[0] if pairs else 0
        alpha = float(reader.fields["adapter.lora.alpha"].contents()) if "adapter.lora.alpha" in reader.fields else rank
        scale, info["base_gguf"] = alpha / max(rank, 1), base
    info.update(kind="adapter", rank=rank, scale=scale)
    records = []
    for name, (a, b) in sorted(pairs.items(), key=lambda kv: _split(kv[0])):
        layer, module = _split(name)
        s = lowrank_singular_values(a, b, scale)
        records.append({"name": name, "layer": layer, "module": module, "shape": [b.shape[0], a.shape[1]], **matrix_stats(s)})
    return records, info


def profile(target: Path, out: Path, *, base: str | None = None, embeddings: bool = False) -> dict[str, Any]:
    """Analyse ``target``, write svd.json / spectra.png / effective_rank.png; returns the summary."""
    from gguf import GGUFReader

    target = Path(target)
    if not target.exists():
        raise AgentSpecError(f"{target} not found.", hint="Give a peft adapter folder, a GGUF adapter or a GGUF model.",
                             code="svd_input")
    is_model = False
    if target.is_file():
        reader = GGUFReader(str(target))
        kind = reader.fields.get("general.type")
        is_model = kind is None or kind.contents() != "adapter"
    if is_model:
        records, info = [], {"kind": "model"}
        for t in reader.tensors:
            if len(t.shape) != 2 or (t.name.startswith("token_embd") and not embeddings) or not t.name.startswith("blk."):
                continue
            w = _dequantized(t)
            layer, module = _split(t.name)
            s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
            rec = {"name": t.name, "layer": layer, "module": module, "shape": list(w.shape), **matrix_stats(s)}
            energy = float(np.sum(s**2))
            rec["drowned_energy"] = {q: round(float(np.sum(s[s < noise_floor(w, lv)] ** 2) / energy), 5)
                                     for q, lv in QUANT_LEVELS.items()}
            records.append(rec)
    else:
        records, info = _adapter_matrices(target, base)
    if not records:
        raise AgentSpecError(f"No weight matrices found in {target}.", hint="Is it a LoRA adapter or a GGUF model?",
                             code="svd_input")

    # Suggestions (module docstring: heuristics).
    summary: dict[str, Any] = {"input": str(target), **info, "matrices": len(records)}
    if info["kind"] == "adapter":
        summary["suggested_rank"] = suggest_rank([r["r90"] for r in records], info.get("rank"))
        summary["suggested_quant"] = _adapter_quant(records, info.get("base_gguf"))
    else:
        drowned = {q: float(np.mean([r["drowned_energy"][q] for r in records])) for q in QUANT_LEVELS}
        ok = [q for q in QUANT_LEVELS if drowned[q] < 0.01]
        summary["suggested_quant"] = {"type": ok[-1] if ok else "F16", "mean_drowned_energy": drowned,
                                      "why": "smallest type drowning < 1% of the weight energy (module docstring)"}
    summary["erank_mean"] = round(float(np.mean([r["erank"] for r in records])), 3)
    summary["r90_mean"] = round(float(np.mean([r["r90"] for r in records])), 3)
    write_json(out / "svd.json", {**summary, "per_matrix": records})
    _plots(records, out, info["kind"])
    return summary


def _adapter_quant(records: list[dict[str, Any]], base_gguf: str | None) -> dict[str, Any]:
    if not base_gguf or not Path(base_gguf).exists():
        return {"type": None, "why": "base GGUF unknown: pass --base to compare the update with quantization noise"}
    from gguf import GGUFReader

    tensors = {t.name: t for t in GGUFReader(base_gguf).tensors}
    kept = {q: [] for q in QUANT_LEVELS}
    for r in records:
        w = _dequantized(tensors[r["name"]])
        s = np.asarray(r["singular_values"])
        for q, lv in QUANT_LEVELS.items():
            kept[q].append(float(np.sum(s[s >= noise_floor(w, lv)] ** 2) / max(np.sum(s**2), 1e-30)))
    kept_mean = {q: round(float(np.mean(v)), 4) for q, v in kept.items()}
    ok = [q for q in QUANT_LEVELS if kept_mean[q] >= 0.9]
    return {"type": ok[-1] if ok else "adapter", "update_energy_above_noise": kept_mean,
            "why": "smallest type keeping >= 90% of the update above the base's quantization noise; "
                   "'adapter' = keep it separate, applied on top of the quantized base"}


def _plots(records: list[dict[str, Any]], out: Path, kind: str) -> None:
    modules = sorted({r["module"] for r in records})
    spectra, ranks = {}, {}
    for m in modules:
        rows = [r for r in records if r["module"] == m]
        k = min(len(r["singular_values"]) for r in rows)
        mean = np.mean([np.asarray(r["singular_values"][:k]) / r["singular_values"][0] for r in rows], axis=0)
        spectra[m] = (list(range(1, k + 1)), mean.tolist())
        ranks[m] = ([r["layer"] for r in rows], [r["r90"] for r in rows])
    what = "update dW = scale * B @ A" if kind == "adapter" else "weights"
    line_chart(out / "spectra.png", spectra, title=f"Mean normalized singular values ({what})",
               xlabel="index", ylabel="s_i / s_1", logy=True)
    line_chart(out / "effective_rank.png", ranks, title="r90 (directions holding 90% of the energy) per layer",
               xlabel="layer", ylabel="r90")
