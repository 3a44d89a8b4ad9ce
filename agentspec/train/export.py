"""Export a trained peft LoRA for llama.cpp: as a GGUF LoRA adapter, and as a merged, quantized GGUF.

Contract:
- ``export_adapter(adapter_dir, out)`` writes ``<out>/adapter.gguf``: ``general.type=adapter``,
  ``adapter.type=lora``, ``adapter.lora.alpha``; tensors ``blk.N.<attn_q|attn_k|...>.weight.lora_a``
  [r, in] and ``.lora_b`` [out, r] in F32. llama.cpp applies ``W x + alpha/r * B (A x)`` on top of the
  (quantized) base, the same scale as peft (rsLoRA's alpha/sqrt(r) is folded into the written alpha).
- llama architecture: llama.cpp's converter permutes the rows of q and k weights (rotary pairs
  interleaved per head; ``permute`` below is its function, with n_head for q and n_head_kv for k).
  transformers un-permutes them when it loads a GGUF, so peft's B for q_proj/k_proj is in HF order and
  must get the same row permutation (A is not touched: it acts on the input side). Without it the
  logits are subtly wrong (correlation ~0.86). Gemma's converter permutes nothing.
- ``export_merged(adapter_dir, out, quants)`` writes ``merged.F16.gguf``: every tensor of the base
  GGUF dequantized, the LoRA delta added in GGUF layout, 2-D weights stored F16 (norms F32), the base's
  metadata and tokenizer copied. Then each requested type is produced from it by llama.cpp's own
  quantizer (``agentspec.runtime.quantize.quantize_gguf``): ``merged.Q8_0.gguf`` etc.
- Files are written to ``.partial`` and renamed when complete.

Needs numpy, gguf and safetensors; not torch. Not here: training (``lora.py``), analysis (``svd.py``).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError

__all__ = ["PeftAdapter", "load_peft_adapter", "permute", "export_adapter", "export_merged", "GGUF_NAMES"]

# peft/HF module name -> llama.cpp tensor name (llama and gemma3 alike).
GGUF_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
_PERMUTED_ARCHS = {"llama"}  # architectures whose converter permutes q/k rows


@dataclass
class PeftAdapter:
    """A peft LoRA read into numpy: ``pairs[(layer, module)] = (A [r, in], B [out, r])``."""

    pairs: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]
    rank: int
    alpha: float  # effective: scale = alpha / rank, as llama.cpp computes it
    base_gguf: str | None
    path: Path

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def _adapter_folder(path: Path) -> Path:
    if (path / "adapter" / "adapter_config.json").exists():
        return path / "adapter"
    if (path / "adapter_config.json").exists():
        return path
    raise AgentSpecError(f"{path} holds no peft adapter (adapter_config.json not found).",
                         hint="Point at the --out folder of `agentspec train lora` (or its adapter/ subfolder).",
                         code="adapter_missing")


def load_peft_adapter(path: Path, base: str | None = None) -> PeftAdapter:
    from safetensors.numpy import load_file

    folder = _adapter_folder(Path(path))
    config = json.loads((folder / "adapter_config.json").read_text())
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AgentSpecError("Adapters with per-module rank_pattern/alpha_pattern are not supported by the exporter.",
                             hint="Train with one rank and alpha for every module.", code="adapter_unsupported")
    rank = int(config["r"])
    alpha = float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha = alpha * math.sqrt(rank)  # peft scales by alpha/sqrt(r); llama.cpp by alpha/r
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    pairs: dict[tuple[int, str], list[Any]] = {}
    for key, value in tensors.items():
        # e.g. base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight
        parts = key.split(".")
        if "layers" not in parts or not any(p in ("lora_A", "lora_B") for p in parts):
            raise AgentSpecError(f"Unexpected tensor {key} in {folder}.", hint="Only LoRA on decoder layers is exported.",
                                 code="adapter_unsupported")
        layer = int(parts[parts.index("layers") + 1])
        which = "lora_A" if "lora_A" in parts else "lora_B"
        module = parts[parts.index(which) - 1]
        if module not in GGUF_NAMES:
            raise AgentSpecError(f"LoRA on {module} has no llama.cpp tensor name.",
                                 hint=f"Target only {', '.join(GGUF_NAMES)}.", code="adapter_unsupported")
        pairs.setdefault((layer, module), [None, None])[0 if which == "lora_A" else 1] = value.astype(np.float32)
    base = base or _base_from_summary(folder)
    return PeftAdapter({k: (a, b) for k, (a, b) in pairs.items()}, rank, alpha, base, folder)


def _base_from_summary(folder: Path) -> str | None:
    for candidate in (folder / "train.json", folder.parent / "train.json"):
        if candidate.exists():
            return json.loads(candidate.read_text()).get("base_gguf")
    return None


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's q/k row permutation (HF rotary halves -> interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _base_reader(adapter: PeftAdapter) -> Any:
    from gguf import GGUFReader

    if not adapter.base_gguf or not Path(adapter.base_gguf).exists():
        raise AgentSpecError(f"The base GGUF of {adapter.path} is unknown or missing ({adapter.base_gguf}).",
                             hint="Pass --base NAME_OR_PATH (the model the adapter was trained on).", code="adapter_base")
    return GGUFReader(adapter.base_gguf)


def _field(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    return f.contents() if f is not None else default


def _gguf_pairs(adapter: PeftAdapter, reader: Any) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(architecture, {gguf tensor name: (A, B in GGUF row order)})."""
    arch = _field(reader, "general.architecture", "llama")
    n_head = int(_field(reader, f"{arch}.attention.head_count", 0))
    n_head_kv = int(_field(reader, f"{arch}.attention.head_count_kv", n_head) or n_head)
    out = {}
    for (layer, module), (a, b) in sorted(adapter.pairs.items()):
        if arch in _PERMUTED_ARCHS and module in ("q_proj", "k_proj"):
            b = permute(b, n_head if module == "q_proj" else n_head_kv)
        out[f"blk.{layer}.{GGUF_NAMES[module]}.weight"] = (a, b)
    return arch, out


def export_adapter(adapter_dir: Path, out: Path, *, base: str | None = None) -> Path:
    """Write ``out/adapter.gguf`` for llama.cpp (``LlamaCppChatModel(adapters=[...])``)."""
    import gguf

    adapter = load_peft_adapter(adapter_dir, base)
    arch, pairs = _gguf_pairs(adapter, _base_reader(adapter))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "adapter.gguf"
    partial = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch)
    writer.add_type("adapter")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter.alpha))
    for name, (a, b) in pairs.items():
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a))  # [r, in]
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b))  # [out, r]
    _finish(writer)
    os.replace(partial, target)
    return target


def export_merged(adapter_dir: Path, out: Path, quants: list[str] = (), *, base: str | None = None,
                  progress: Any = None) -> dict[str, Path]:
    """Write ``merged.F16.gguf`` and one ``merged.<Q>.gguf`` per requested type; returns {type: path}."""
    import gguf
    from gguf.quants import dequantize

    from agentspec.runtime.quantize import QUANT_TYPES, quantize_gguf

    bad = [q for q in quants if q not in QUANT_TYPES]
    if bad:
        raise AgentSpecError(f"Unknown quantization type(s) {', '.join(bad)}.", hint=f"Use {', '.join(QUANT_TYPES)}.",
                             code="quant_type")
    adapter = load_peft_adapter(adapter_dir, base)
    reader = _base_reader(adapter)
    arch, pairs = _gguf_pairs(adapter, reader)
    out.mkdir(parents=True, exist_ok=True)
    f16 = out / "merged.F16.gguf"
    partial = f16.with_name(f16.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch)
    # 1. Metadata and tokenizer exactly as in the base, except the file type.
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type", "general.alignment"):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    # 2. Tensors: dequantize, add the delta (already in GGUF row order), store F16 / F32.
    used = set()
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        if t.name in pairs:
            a, b = pairs[t.name]
            w = w + adapter.scale * (b @ a)
            used.add(t.name)
        writer.add_tensor(t.name, w.astype(np.float16) if w.ndim == 2 else w)
        if progress is not None:
            progress()
    missing = set(pairs) - used
    if missing:
        raise AgentSpecError(f"The base GGUF has no tensor for {sorted(missing)[:3]}...",
                             hint="The adapter was trained on another base model: pass the right --base.", code="adapter_base")
    _finish(writer)
    os.replace(partial, f16)
    written = {"F16": f16}
    for q in quants:
        if q != "F16":
            written[q] = quantize_gguf(f16, out / f"merged.{q}.gguf", q)
    return written


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
