"""The encoder's top layers in torch, for fine-tuning a reading end to end (answer and requests tuning).

``TopLayers(weights, layers, heads, eps)``: MiniLM's forward pass (``agentspec.routing.encoder``'s
arithmetic) with frozen embeddings and lower layers (``lower_states``, computed once per batch) and
trainable top ``layers`` (``upper``; ``tuned``: name -> parameter). ``pooled`` is
``sentence_features`` batched; ``batches`` tokenizes texts (emoji spelled as names, as the reader
serves them) into length-sorted padded batches; ``fit_top_layers`` trains the top layers and a head
on them (resumable); ``settings_key`` names a run for its checkpoint; ``save_tuned`` writes a reader with
one tuned head (its layers and weights).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.routing.emoji_names import spell_emoji
from agentspec.routing.reader import TUNED_PREFIX, Head
from agentspec.train._report import write_json

__all__ = ["LAYER_TENSORS", "TopLayers", "batches", "fit_top_layers", "pooled", "save_tuned", "settings_key"]

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


def fit_top_layers(model: TopLayers, head: Any, texts: list[str], targets: Any, loss_of: Any, tokenizer: Any, *,
                   epochs: int, lr: float, batch: int, seed: int, checkpoint: Any, key: str, label: str) -> None:
    """Train ``model``'s top layers (learning rate ``lr``) and ``head`` (1e-3) with AdamW, a linear warm-up then
    a linear decay, on ``texts`` -> ``targets`` (a tensor, one row per text) under ``loss_of``. Each finished
    epoch is saved to ``checkpoint`` under ``key``; a run whose checkpoint has that key resumes after its
    epoch. Progress goes to stderr, prefixed ``label``."""
    import torch

    started = time.perf_counter()
    groups = batches(torch, tokenizer, texts, batch)
    lowered = [model.lower_states(ids, mask) for _, ids, mask in groups]
    optimizer = torch.optim.AdamW([{"params": list(model.tuned.values()), "lr": lr},
                                   {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01)
    steps = epochs * len(groups)
    warmup = max(1, min(100, steps // 10))  # steps of a linear warm-up, then a linear decay to 0
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, s / warmup) * max(0.0, 1 - s / steps))
    first = 0
    if checkpoint.is_file():
        saved = torch.load(checkpoint)
        if saved.get("key") == key:
            first = saved["epoch"]
            for name, value in saved["tuned"].items():
                model.tuned[name].data.copy_(value)
            head.load_state_dict(saved["head"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
            print(f"{label}: resuming after epoch {first}", file=sys.stderr, flush=True)
    for epoch in range(first, epochs):
        order = list(range(len(groups)))
        random.Random(seed + epoch).shuffle(order)
        total = 0.0
        for step, b in enumerate(order, 1):
            rows, _, mask = groups[b]
            loss = loss_of(head(pooled(torch, model.upper(*lowered[b]), mask)), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            if step % 100 == 0 or step == len(order):
                print(f"{label}: epoch {epoch + 1}/{epochs}, batch {step}/{len(order)}, loss {total / step:.4f}, "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        torch.save({"key": key, "epoch": epoch + 1, "tuned": {k: v.detach() for k, v in model.tuned.items()},
                    "head": head.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()},
                   checkpoint)


def settings_key(settings: Any, examples: Any) -> str:
    """What identifies a tuning run for its checkpoint: its settings (but where it reads and writes) and examples."""
    fields = {k: str(v) for k, v in dataclasses.asdict(settings).items() if k not in ("out", "base")}
    return hashlib.sha256(json.dumps([fields, examples]).encode()).hexdigest()[:16]


def save_tuned(base: Path, out: Path, member: str, model: TopLayers, head: Any, labels: tuple[str, ...], kind: str,
               trained_on: dict[str, Any]) -> None:
    """``base``'s reader written to ``out`` with head ``member`` (any old one of that name replaced): ``head``'s
    weights (a torch Linear-ReLU-Linear) and ``model``'s tuned layers (float16, npz keys
    ``tuned_encoder.<member>.<tensor>``), recorded in ``reader.json`` as ``encoder: tuned``."""
    linear1, linear2 = head[0], head[2]
    tuned_head = Head(tuple(labels), kind, np.zeros(linear1.in_features, np.float32),
                      np.ones(linear1.in_features, np.float32), linear1.weight.detach().numpy().T.copy(),
                      linear1.bias.detach().numpy().copy(), linear2.weight.detach().numpy().T.copy(),
                      linear2.bias.detach().numpy().copy())
    meta = json.loads((base / "reader.json").read_text(encoding="utf-8"))
    with np.load(base / "reader.npz") as stored:
        arrays = {k: stored[k] for k in stored.files if not k.startswith((f"{member}.", f"{TUNED_PREFIX}{member}."))}
    arrays.update(tuned_head.arrays(member))
    arrays.update({f"{TUNED_PREFIX}{member}.{k}": v.detach().numpy().astype(np.float16)
                   for k, v in model.tuned.items()})
    meta["heads"][member] = {"labels": list(labels), "kind": kind, "encoder": "tuned", "trained_on": trained_on}
    if base.resolve() != out.resolve():
        for extra in base.glob("reader_report.*"):
            shutil.copy2(extra, out / extra.name)
    partial = out / "reader.partial.npz"
    np.savez(partial, **arrays)
    partial.replace(out / "reader.npz")
    write_json(out / "reader.json", meta)
