"""The mixture-of-LoRA router at serving time: which expert adapter serves this turn.

Contract: ``Router.load(path)`` reads ``router.json`` (written by ``agentspec.train.router``);
``route(messages) -> (expert, probabilities)`` reads the conversation so far. Features: TF-IDF over
word unigrams and bigrams of the last user message (counted twice) and the rest of the conversation,
plus the first five letters of each longer word; identifiers count by their shape ("<email>",
"<5 digits>"; order-like ids not at all). Then softmax regression. Numpy only: it runs on the chat
path before every turn. Fitting is ``agentspec.train.router.fit_router``.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError

__all__ = ["Router", "features", "routing_text"]

_WORD = re.compile(r"[a-z0-9_#@.]+")


def routing_text(messages: list[dict[str, Any]]) -> str:
    """What the router reads: the last user message twice, then the rest of the conversation (no system)."""
    turns = [m for m in messages if m.get("role") != "system"]
    last_user = next((str(m.get("content") or "") for m in reversed(turns) if m.get("role") == "user"), "")
    rest = " ".join(str(m.get("content") or "") for m in turns[-6:])
    return f"{last_user} {last_user} {rest}"


_STEM = 5  # letters of a word's stem feature
_ID_LIKE = re.compile(r"#?[a-z]\d{5,}")  # a letter then digits, "#" optional: names a record, not an intent


def _canonical(word: str) -> str:
    """A word, with identifiers replaced by their shape (every email is one feature); "" for a record id."""
    word = word.strip(".")
    if "@" in word:
        return "<email>"
    if _ID_LIKE.fullmatch(word):
        return ""
    if word.isdigit():
        return f"<{len(word)} digits>"
    return word


def features(text: str) -> list[str]:
    words = [w for w in map(_canonical, _WORD.findall(text.lower())) if w]
    stems = [f"~{w[:_STEM]}" for w in words if len(w) > _STEM and w.isalpha()]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])] + stems


class Router:
    """TF-IDF + softmax regression. ``route(messages)`` -> (expert name, probabilities)."""

    def __init__(self, experts: list[str], vocab: list[str], idf: np.ndarray, weights: np.ndarray, bias: np.ndarray):
        self.experts, self.vocab = experts, vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.idf, self.weights, self.bias = idf, weights, bias  # [V], [V, E], [E]

    def vectorize(self, texts: list[str]) -> np.ndarray:
        x = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, n in Counter(features(text)).items():
                j = self.index.get(feat)
                if j is not None:
                    x[row, j] = 1.0 + math.log(n)  # sublinear term frequency
        x *= self.idf
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.probabilities_from(self.vectorize(texts))

    def route(self, messages: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
        p = self.probabilities([routing_text(messages)])[0]
        return self.experts[int(p.argmax())], {e: float(v) for e, v in zip(self.experts, p)}

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"kind": "tfidf-logreg", "experts": self.experts, "vocab": self.vocab,
                                 "idf": self.idf.round(5).tolist(), "weights": self.weights.round(5).tolist(),
                                 "bias": self.bias.round(5).tolist()}) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> "Router":
        path = Path(path)
        if path.is_dir():
            path = path / "router.json"
        if not path.exists():
            raise AgentSpecError(f"No router at {path}.", hint="Train one with `agentspec train router`.", code="router_missing")
        d = json.loads(path.read_text())
        return cls(d["experts"], d["vocab"], np.asarray(d["idf"], np.float32), np.asarray(d["weights"], np.float32),
                   np.asarray(d["bias"], np.float32))

    def probabilities_from(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)
