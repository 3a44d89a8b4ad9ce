"""Re-quantize a GGUF file with llama.cpp's own quantizer (reached through llama-cpp-python).

Used to derive the default Q8_0 model from the shipped Q4_1 one, and later by the compression
experiments. The output is written to ``<target>.<pid>.partial`` and renamed only when complete, so an
interrupted run never leaves a truncated file behind that looks finished, and processes deriving the
same file at once (the workers of an eval run on a fresh machine) never write over each other's.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

from agentspec.errors import AgentSpecError

__all__ = ["QUANT_TYPES", "quantize_gguf"]

# Names -> llama_ftype values (llama.h).
QUANT_TYPES = {"F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
               "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
               "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}


def quantize_gguf(source: Path, target: Path, quant_type: str, *, n_threads: int | None = None) -> Path:
    """Write ``source`` quantized to ``quant_type`` at ``target``; returns ``target``."""
    import llama_cpp

    if quant_type not in QUANT_TYPES:
        raise AgentSpecError(
            f"Unknown quantization type {quant_type!r}.", hint=f"Use one of {', '.join(QUANT_TYPES)}."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant_type]
    params.nthread = n_threads or os.cpu_count() or 1
    # The source may itself be quantized (the shipped Q4_1): allow re-quantizing it.
    params.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(
        str(source).encode(), str(partial).encode(), ctypes.byref(params)
    )
    if rc != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise AgentSpecError(
            f"llama.cpp failed to quantize {source} to {quant_type} (code {rc}).",
            hint="Check that the source is a valid GGUF model and that the disk has space.",
        )
    os.replace(partial, target)
    return target
