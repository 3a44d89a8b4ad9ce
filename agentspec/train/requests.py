"""The request classifier: what the user asked for in one message (``agentspec train requests``).

Why it exists: the small expert reads the user's request in the first message and then, thousands of
tokens of tool observations later, has to pick the write that serves it. It authenticates and looks
things up well but picks the wrong write (a cancel request answered with an item modification). The
request is plain in the user's words, so a classifier on those words names it, and the graph offers
only the write tools that request needs (``spec.routing.requests``; ``AgentDeps.offered_tools``).

Contract:
- Not consulted while a write is stated and awaits the user's yes or no (the graph skips it): that
  answer is about the stated write.
- Classes: the ``intent`` values of the training data (cancel, modify_items, return, ..., forbidden,
  transfer) plus ``none``: a message that asks for nothing new (an identity answer, a yes/no to a
  stated action, a changed detail of it).
- Labels come from the training rows: each row's last human message (tool results excluded) gets the
  row's ``intent``, or ``none`` when it answers the agent's identity question or a confirmation
  question. A message is counted once per dialogue. The synthetic dialogues always open with the
  request, so ``OPENINGS_WITHOUT_REQUEST`` (greetings that ask for nothing yet: "Hi, I've got an issue
  with one of my purchases") are added to the training messages as ``none``: without them such an
  opening read as modify_address (0.35), the scope opened that write, and the graph's question for
  the request (``policy.request_question``) never came.
- The model is the router's (TF-IDF over words and word pairs, class-balanced softmax regression,
  numpy only, a JSON file): it runs once per user message on the chat path, which must not need torch.
- ``classify(text, threshold)`` returns every request class (not ``none``) whose probability reaches
  the threshold, unless ``none`` holds half the probability or more: usually one; two when the words
  fit both (an "exchange" worded as a "change" reads as exchange and modify_items), so a close call
  widens the scope rather than hiding the right write. The graph keeps the union over the
  conversation: a request once recognised stays served.
- Reports in ``out``: ``requests.json`` (the model), ``requests_report.json`` (held-out accuracy
  against the majority class, per-class recall, confusion; at the threshold: how often a request
  message's class is among those returned, how many are returned, how often a ``none`` message is read
  as a request) and ``recall.png``.

Not here: the scope itself (``graph.deps.AgentDeps.offered_tools``); the expert router (``router.py``).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.train._examples import read_jsonl
from agentspec.train._report import bar_chart, write_json
from agentspec.train.router import Router

__all__ = ["NONE", "OPENINGS_WITHOUT_REQUEST", "RequestClassifier", "most_probable_request", "request_examples",
           "requests_above", "train_requests"]

NONE = "none"
_TOOL_RESULT = "Tool result of "
# The agent's questions whose answers carry no request: who the user is, and yes/no to a stated write.
_IDENTITY_QUESTION = re.compile(r"verify your identity|email address|zip code", re.IGNORECASE)
# Openings that ask for nothing yet (the request comes when the agent asks for it). Written for the
# classifier only; the evaluation's hard style draws its vague openings from its own, disjoint list.
OPENINGS_WITHOUT_REQUEST = (
    "Hello!", "Hi.", "Hey there.", "Good morning, is anyone there?", "Hi, I was hoping you could assist me.",
    "Hello, I'm contacting you about a purchase.", "Hi, quick question regarding something I bought.",
    "Good afternoon. I could use some assistance with my account.", "Hi, I've got an issue with one of my purchases.",
    "Hello there, I need a hand with something.", "Hey! Can you assist me today?",
    "Hi, I'm reaching out about a recent purchase.", "Hello, it's about an order of mine.",
    "Hi support, I have a problem.", "Good evening, I'd like some assistance please.",
    "Hi, can I get some support regarding a purchase?", "Hello, I need help.",
    "Hi, I have a few questions about my account.", "Hello, I'm writing about one of my orders.",
    "Hey, something is not right with a purchase and I need support.",
)
_CONFIRM_QUESTION = re.compile(r"\(yes/no\)|shall i proceed", re.IGNORECASE)


def _is_human(message: dict[str, Any]) -> bool:
    return message.get("role") == "user" and not str(message.get("content") or "").startswith(_TOOL_RESULT)


def _asks_no_request(assistant: dict[str, Any] | None) -> bool:
    """Whether the agent's message before a user message was a question whose answer is not a request."""
    if assistant is None or assistant.get("role") != "assistant":
        return False
    text = str(assistant.get("content") or "")
    if '"calls"' in text[:20]:
        return False
    return bool(_IDENTITY_QUESTION.search(text) or _CONFIRM_QUESTION.search(text))


def request_examples(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(message text, class) for each human message of the rows, once per dialogue and position."""
    seen: set[tuple[Any, int]] = set()
    out: list[tuple[str, str]] = []
    for row in rows:
        messages = row.get("messages") or []
        last = next((i for i in range(len(messages) - 1, -1, -1) if _is_human(messages[i])), None)
        if last is None or (row.get("dialogue_id"), last) in seen or not row.get("intent"):
            continue
        seen.add((row.get("dialogue_id"), last))
        before = messages[last - 1] if last > 0 else None
        label = NONE if _asks_no_request(before) else str(row["intent"])
        out.append((str(messages[last]["content"]), label))
    return out


class RequestClassifier:
    """A fitted router over message text whose classes are requests (and ``none``)."""

    def __init__(self, model: Router):
        self.model = model
        self.classes = model.experts

    @classmethod
    def load(cls, path: Path) -> "RequestClassifier":
        path = Path(path)
        if path.is_dir():
            path = path / "requests.json"
        if not path.is_file():
            raise AgentSpecError(f"No request classifier at {path}.", code="requests_missing",
                                 hint="Train one with `agentspec train requests --data DATA --out DIR`.")
        try:
            model = Router.load(path)
        except (ValueError, KeyError, TypeError) as exc:
            raise AgentSpecError(f"{path} is not a request classifier ({exc!r}).", code="requests_corrupt",
                                 hint="Retrain it with `agentspec train requests`.") from exc
        if NONE not in model.experts:
            raise AgentSpecError(f"{path} has no {NONE!r} class: it is an expert router, not a request classifier.",
                                 hint="Point routing.requests.classifier at `agentspec train requests` output.",
                                 code="requests_corrupt")
        return cls(model)

    def probabilities(self, text: str) -> dict[str, float]:
        p = self.model.probabilities([text])[0]
        return {c: float(v) for c, v in zip(self.classes, p)}

    def classify(self, text: str, threshold: float) -> tuple[list[str], dict[str, float]]:
        """The requests a message makes (most probable first; empty: none), with every class's probability."""
        probs = self.probabilities(text)
        return requests_above(probs, threshold), probs


def most_probable_request(probs: dict[str, float], floor: float) -> list[str]:
    """The one most probable request class (not ``none``) when it reaches ``floor``, whatever ``none``
    holds: for a message known to ask for something (the answer to "How can I help you today?")."""
    top = max((c for c in probs if c != NONE), key=lambda c: probs[c], default=None)
    return [top] if top is not None and probs[top] >= floor else []


def requests_above(probs: dict[str, float], threshold: float) -> list[str]:
    """The request classes (not ``none``) whose probability reaches the threshold, most probable first;
    nothing when ``none`` takes half the mass or more: "The email on my account is emma.brown5032@..."
    gave none 0.54 and transfer 0.31 (the training dialogues' "change the email address on my account,
    and I'd like a human agent"), and the hand-off was offered to a customer who never asked for one."""
    if probs.get(NONE, 0.0) >= 0.5:
        return []
    return sorted((c for c, p in probs.items() if c != NONE and p >= threshold), key=lambda c: -probs[c])


def train_requests(data: Path, out: Path, *, threshold: float = 0.3) -> dict[str, Any]:
    """Fit on train.jsonl's messages, evaluate on valid.jsonl's; write the model, report and chart."""
    train = request_examples(read_jsonl(Path(data) / "train.jsonl"))
    train += [(text, NONE) for text in OPENINGS_WITHOUT_REQUEST]
    counts = Counter(label for _, label in train)
    if len([c for c in counts if c != NONE]) < 2 or NONE not in counts:
        raise AgentSpecError(f"The training rows give {dict(counts)}: need at least two requests and some "
                             f"{NONE!r} messages.", code="requests_data",
                             hint="Use `agentspec train data` output (rows with `intent` and whole conversations).")
    classes = sorted(counts)
    # Weaker regularisation and more epochs than the expert router: the classes are named by a few
    # words ("cancel", "return"), and a sharp fit lets a short message ("return the mug please") count.
    model = Router.fit([t for t, _ in train], [classes.index(label) for _, label in train], classes,
                       epochs=1000, l2=1e-4, lr=4.0)
    model.save(Path(out) / "requests.json")
    valid_path = Path(data) / "valid.jsonl"
    held = request_examples(read_jsonl(valid_path)) if valid_path.exists() else []
    evaluated, held_out = (held, True) if held else (train, False)
    evaluated = [(t, label) for t, label in evaluated if label in classes]
    truth = np.asarray([classes.index(label) for _, label in evaluated])
    probs = model.probabilities([t for t, _ in evaluated])
    pred = probs.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (truth, pred), 1)
    recall = {c: round(float(confusion[i, i] / max(confusion[i].sum(), 1)), 4) for i, c in enumerate(classes)}
    # At the threshold the graph uses: is a request's class among those returned (else its writes stay
    # hidden), how many come back (each widens the scope), is a non-request read as some request.
    decided = [requests_above(dict(zip(classes, row.tolist())), threshold) for row in probs]
    requests = [(d, label) for d, (_, label) in zip(decided, evaluated) if label != NONE]
    nones = [d for d, (_, label) in zip(decided, evaluated) if label == NONE]
    report = {
        "classes": classes, "train_messages": len(train), "train_counts": dict(sorted(counts.items())),
        "eval_messages": len(evaluated), "held_out": held_out, "threshold": threshold,
        "accuracy": round(float((pred == truth).mean()), 4),
        "chance": round(float(np.bincount(truth, minlength=len(classes)).max() / max(len(truth), 1)), 4),
        "recall": recall,
        "request_covered": round(sum(label in d for d, label in requests) / max(len(requests), 1), 4),
        "request_classes_mean": round(sum(len(d) for d, _ in requests) / max(len(requests), 1), 3),
        "request_missed": round(sum(not d for d, _ in requests) / max(len(requests), 1), 4),
        "none_read_as_request": round(sum(bool(d) for d in nones) / max(len(nones), 1), 4),
        "confusion": confusion.tolist(), "vocab": len(model.vocab),
    }
    write_json(Path(out) / "requests_report.json", report)
    bar_chart(Path(out) / "recall.png", classes, [recall[c] for c in classes],
              title=f"Request classifier recall on {'held-out' if held_out else 'training'} messages "
                    f"(acc {report['accuracy']:.2f}, majority {report['chance']:.2f})", ylabel="recall")
    return report
