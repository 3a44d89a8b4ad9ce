"""The encoder's top layers in torch, for fine-tuning a reading end to end (answer and requests tuning).

``TopLayers(weights, layers, heads, eps)``: MiniLM's forward pass (``agentspec.routing.encoder``'s
arithmetic) with frozen embeddings and lower layers (``lower_states``, computed once per batch) and
trainable top ``layers`` (``upper``; ``tuned``: name -> parameter). ``pooled`` is
``sentence_features`` batched; ``batches`` tokenizes texts (emoji spelled as names, as the reader
serves them) into length-sorted padded batches.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from agentspec.routing.emoji_names import spell_emoji

__all__ = ["LAYER_TENSORS", "TopLayers", "batches", "pooled"]

LAYER_TENSORS = ("attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
                  "attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias",
                  "attention.output.dense.weight", "attention.output.dense.bias",
                  "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                  "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight",
                  "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias")


class TopLayers:
    """The encoder's forward pass in torch (``agentspec.routing.encoder``'s arithmetic): frozen embeddings and
    lower layers, trainable top layers."""

    def __init__(self, weights: dict[str, np.ndarray], layers: int, heads: int, eps: float):
        import torch

        self.torch = torch
        self.frozen = {k: torch.tensor(np.asarray(v, np.float32)) for k, v in weights.items()}
        total = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
        self.lower, self.total, self.heads, self.eps = total - layers, total, heads, eps
        self.tuned = {name: torch.nn.Parameter(self.frozen[name].clone())
                      for i in range(self.lower, total) for name in self.layer_names(i)}

    @staticmethod
    def layer_names(i: int) -> list[str]:
        return [f"encoder.layer.{i}.{t}" for t in LAYER_TENSORS]

    def _layer(self, x: Any, bias: Any, i: int, params: dict[str, Any]) -> Any:
        f = self.torch.nn.functional
        w = [params[n] for n in self.layer_names(i)]
        b, t, h = x.shape
        d = h // self.heads

        def split(y: Any) -> Any:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = (split(x @ w[j].T + w[j + 3]) for j in range(3))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
        a = f.layer_norm(context @ w[6].T + w[7] + x, (h,), w[8], w[9], self.eps)
        inner = f.gelu(a @ w[10].T + w[11])
        return f.layer_norm(inner @ w[12].T + w[13] + a, (h,), w[14], w[15], self.eps)

    def lower_states(self, ids: Any, mask: Any) -> tuple[Any, Any]:
        """The frozen part: states after the lower layers, and the attention bias of the padding."""
        torch, w = self.torch, self.frozen
        with torch.no_grad():
            x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:ids.shape[1]]
                 + w["embeddings.token_type_embeddings.weight"][0])
            x = torch.nn.functional.layer_norm(x, (x.shape[-1],), w["embeddings.LayerNorm.weight"],
                                               w["embeddings.LayerNorm.bias"], self.eps)
            bias = torch.where(mask, 0.0, -1e9)[:, None, None, :]
            for i in range(self.lower):
                x = self._layer(x, bias, i, w)
        return x, bias

    def upper(self, x: Any, bias: Any) -> Any:
        for i in range(self.lower, self.total):
            x = self._layer(x, bias, i, self.tuned)
        return x


def pooled(torch: Any, x: Any, mask: Any) -> Any:
    """``sentence_features`` of each row's body ([CLS] and [SEP] left out), batched."""
    body = mask.clone()
    body[:, 0] = False
    body[torch.arange(len(body)), mask.sum(1) - 1] = False
    m = body[..., None].float()
    mean = (x * m).sum(1) / m.sum(1).clamp(min=1)
    mean = mean / mean.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    return torch.cat([mean, x.masked_fill(~body[..., None], -1e4).max(1).values], -1)


def batches(torch: Any, tokenizer: Any, texts: list[str], size: int) -> list[tuple[list[int], Any, Any]]:
    encodings = tokenizer.encode_batch([spell_emoji(t) for t in texts], add_special_tokens=True)
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    out = []
    for start in range(0, len(order), size):
        rows = order[start:start + size]
        longest = max(len(encodings[i].ids) for i in rows)
        ids = torch.zeros(len(rows), longest, dtype=torch.long)
        mask = torch.zeros(len(rows), longest, dtype=torch.bool)
        for r, i in enumerate(rows):
            ids[r, :len(encodings[i].ids)] = torch.tensor(encodings[i].ids)
            mask[r, :len(encodings[i].ids)] = True
        out.append((rows, ids, mask))
    return out
