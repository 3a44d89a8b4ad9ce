"""Experiments from the survey, each one resumable command with a JSON, Markdown and PNG report.

- ``compression``: the specialized model merged and quantized (F16, Q8_0, Q4_K_M, 3-bit): size,
  speed, held-out perplexity and pass^1 (``agentspec experiment compression``);
- ``ablation``: the same LoRA training on data with and without the verification filters, compared by
  pass^1 on held-out tasks (``agentspec experiment data-ablation``);
- ``rag``: retrieval vs the LoRA expert on held-out document questions: accuracy, recall@k, latency
  (``agentspec experiment rag-vs-finetune``).

Heavy libraries (torch, llama.cpp) are imported when an experiment runs, not on import.
"""
from __future__ import annotations

from ._common import ExperimentDirMismatchError, ExperimentError, ExperimentInputError
from .ablation import AblationSettings, run_ablation
from .compression import CompressionSettings, run_compression
from .rag import RagSettings, run_rag

__all__ = ["AblationSettings", "CompressionSettings", "ExperimentDirMismatchError", "ExperimentError",
           "ExperimentInputError", "RagSettings", "run_ablation", "run_compression", "run_rag"]
