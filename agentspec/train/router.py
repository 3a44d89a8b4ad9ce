"""The mixture-of-LoRA router: which expert adapter serves this turn (``agentspec train router``).

Contract:
- Experts are named intent families: ``--experts "returns=return*|exchange*,orders=cancel*|modify*"``
  (a bare ``NAME`` means ``*NAME*``). A turn's label is the first expert whose globs match its
  ``intent``; turns that match none are left out of training and counted (``unassigned``). End the
  list with ``other=*`` to route them too.
- Classifier: TF-IDF over word unigrams and bigrams of the conversation so far (the last user message
  counted twice, it carries the intent) and the first five letters of each longer word ("~cance" for
  cancel, cancelled, cancellation: "has to be cancelled" is a cancel though the data says "cancel");
  identifiers count by their shape ("<email>", "<5 digits>"; order ids not at all): an email seen
  once in training says nothing, that a message gives an email says a lot. Then multinomial logistic
  regression with class-balanced weights, trained by full-batch gradient descent in numpy. Why not sentence embeddings or the
  model's hidden state: the router runs before every turn on the chat path, which must not need torch
  (DESIGN.md §4); intents here are named by their words (return, exchange, cancel, address), which
  TF-IDF separates well; and the whole router is a JSON file of a few hundred KB that ships with the
  adapters. The report gives its held-out accuracy against the majority-class rate, so a weak router
  shows up as such.
- Reports in ``out``: ``router.json`` (the model), ``router_report.json`` (accuracy, chance, confusion,
  utilisation, collapse alarm) and ``utilisation.png``. The alarm fires when one expert gets more
  than ``collapse_at`` (default 0.9) of the held-out turns: routing collapse, a known failure of
  mixtures of experts.

Not here: training the experts (``lora.py``); switching adapters (``LlamaCppChatModel.set_adapter``).
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
from agentspec.train._examples import expert_matcher, read_jsonl
from agentspec.train._report import bar_chart, write_json

__all__ = ["Router", "routing_text", "train_router"]

_WORD = re.compile(r"[a-z0-9_#@.]+")


def routing_text(messages: list[dict[str, Any]]) -> str:
    """What the router reads: the last user message twice, then the rest of the conversation (no system)."""
    turns = [m for m in messages if m.get("role") != "system"]
    last_user = next((str(m.get("content") or "") for m in reversed(turns) if m.get("role") == "user"), "")
    rest = " ".join(str(m.get("content") or "") for m in turns[-6:])
    return f"{last_user} {last_user} {rest}"


_STEM = 5  # letters of a word's stem feature
_ORDER_ID = re.compile(r"#?w\d{7}")  # lower-cased, "#" optional: "#w8465042"


def _canonical(word: str) -> str:
    """A word, with identifiers replaced by their shape (every email is one feature); "" for an order id."""
    word = word.strip(".")
    if "@" in word:
        return "<email>"
    if _ORDER_ID.fullmatch(word):
        return ""  # named in requests of every kind, forbidden ones most often: no evidence of which
    if word.isdigit():
        return f"<{len(word)} digits>"  # a zip (5), the last four of a card (4), an item id (10)
    return word


def _features(text: str) -> list[str]:
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
            for feat, n in Counter(_features(text)).items():
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
        return write_json(path, {"kind": "tfidf-logreg", "experts": self.experts, "vocab": self.vocab,
                                 "idf": self.idf.round(5).tolist(), "weights": self.weights.round(5).tolist(),
                                 "bias": self.bias.round(5).tolist()})

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

    @classmethod
    def fit(cls, texts: list[str], labels: list[int], experts: list[str], *, max_features: int = 2048,
            l2: float = 1e-3, epochs: int = 300, lr: float = 2.0) -> "Router":
        # 1. Vocabulary: features seen in at least 2 turns, the most frequent first.
        # dict.fromkeys, not set: ties in frequency keep first-seen order, not the process's hash seed.
        df = Counter(f for t in texts for f in dict.fromkeys(_features(t)))
        vocab = [f for f, n in df.most_common(max_features) if n >= 2] or [f for f, _ in df.most_common(max_features)]
        idf = np.asarray([math.log((1 + len(texts)) / (1 + df[f])) + 1 for f in vocab], dtype=np.float32)
        router = cls(experts, vocab, idf, np.zeros((len(vocab), len(experts)), np.float32), np.zeros(len(experts), np.float32))
        x = router.vectorize(texts)
        y = np.eye(len(experts), dtype=np.float32)[labels]  # [N, E] one-hot
        # 2. Class-balanced weights so a dominant intent cannot win by default (routing collapse).
        counts = y.sum(axis=0)
        w = (len(labels) / (len(experts) * np.maximum(counts, 1)))[labels][:, None]
        for _ in range(epochs):  # full-batch gradient descent on the weighted cross-entropy (convex)
            p = router.probabilities_from(x)
            g = w * (p - y) / len(labels)
            router.weights -= lr * (x.T @ g + l2 * router.weights)
            router.bias -= lr * g.sum(axis=0)
        return router

    def probabilities_from(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def _labelled(rows: list[dict[str, Any]], matchers: list[tuple[str, Any]]) -> tuple[list[str], list[int], int]:
    texts, labels, unassigned = [], [], 0
    for row in rows:
        label = next((k for k, (_, m) in enumerate(matchers) if m(row.get("intent"))), None)
        if label is None:
            unassigned += 1
            continue
        texts.append(routing_text(row["messages"]))
        labels.append(label)
    return texts, labels, unassigned


def train_router(data: Path, experts: list[str], out: Path, *, collapse_at: float = 0.9) -> dict[str, Any]:
    """Fit the router on train.jsonl, evaluate on valid.jsonl; write model, report and histogram."""
    matchers = [expert_matcher(e) for e in experts]
    names = [n for n, _ in matchers]
    if len(set(names)) != len(names) or len(names) < 2:
        raise AgentSpecError(f"Experts must be at least two distinct names (got {names}).",
                             hint='e.g. --experts "returns=return*|exchange*,orders=*"', code="router_experts")
    texts, labels, unassigned = _labelled(read_jsonl(Path(data) / "train.jsonl"), matchers)
    present = Counter(labels)
    if len(present) < 2:
        raise AgentSpecError(f"The training turns match {len(present)} expert(s): nothing to route between.",
                             hint="Check the globs against the intents in train.jsonl (`intent` field).", code="router_experts")
    router = Router.fit(texts, labels, names)
    router.save(out / "router.json")
    # Held-out turns: accuracy against always answering the most common expert.
    vtexts, vlabels, vunassigned = _labelled(read_jsonl(Path(data) / "valid.jsonl"), matchers) if (Path(data) / "valid.jsonl").exists() else ([], [], 0)
    eval_texts, eval_labels, held_out = (vtexts, vlabels, True) if vtexts else (texts, labels, False)
    pred = router.probabilities(eval_texts).argmax(axis=1)
    truth = np.asarray(eval_labels)
    share = np.bincount(pred, minlength=len(names)) / max(len(pred), 1)
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (truth, pred), 1)
    report = {
        "experts": names, "train_turns": len(texts), "unassigned_train_turns": unassigned,
        "eval_turns": len(eval_labels), "held_out": held_out, "unassigned_eval_turns": vunassigned,
        "accuracy": round(float((pred == truth).mean()), 4),
        "chance": round(float(np.bincount(truth, minlength=len(names)).max() / len(truth)), 4),
        "utilisation": {n: round(float(v), 4) for n, v in zip(names, share)},
        "label_share": {n: round(present.get(k, 0) / len(labels), 4) for k, n in enumerate(names)},
        "confusion": confusion.tolist(), "collapse_at": collapse_at,
        "collapse": bool(share.max() > collapse_at), "vocab": len(router.vocab),
    }
    write_json(out / "router_report.json", report)
    bar_chart(out / "utilisation.png", names, share.tolist(), hline=collapse_at,
              title=f"Expert utilisation on {'held-out' if held_out else 'training'} turns (acc {report['accuracy']:.2f})",
              ylabel="share of turns")
    return report
