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

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.routing.router import Router, features, routing_text
from agentspec.train._examples import expert_matcher, read_jsonl
from agentspec.train._report import bar_chart, write_json

__all__ = ["fit_router", "train_router"]


def fit_router(texts: list[str], labels: list[int], experts: list[str], *, max_features: int = 2048,
            l2: float = 1e-3, epochs: int = 300, lr: float = 2.0) -> Router:
    """Fit TF-IDF + class-balanced softmax regression on ``texts`` with expert indices ``labels``."""
    # 1. Vocabulary: features seen in at least 2 turns, the most frequent first.
    # dict.fromkeys, not set: ties in frequency keep first-seen order, not the process's hash seed.
    df = Counter(f for t in texts for f in dict.fromkeys(features(t)))
    vocab = [f for f, n in df.most_common(max_features) if n >= 2] or [f for f, _ in df.most_common(max_features)]
    idf = np.asarray([math.log((1 + len(texts)) / (1 + df[f])) + 1 for f in vocab], dtype=np.float32)
    router = Router(experts, vocab, idf, np.zeros((len(vocab), len(experts)), np.float32), np.zeros(len(experts), np.float32))
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
    router = fit_router(texts, labels, names)
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
