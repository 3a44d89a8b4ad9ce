"""Offline specialization: synthetic data, LoRA experts, GGUF export, routing, SVD profiling.

Modules import torch, peft and transformers lazily: nothing here is on the chat path. The command
group is ``agentspec.train.cli.train_group`` (``agentspec train ...``).
"""
