"""How well a reader tells a lasting preference from everything else, on a blind set of messages.

Contract: ``measure_preferences(reader, head, threshold, path)`` reads a set in the format of
``evals/preferences_holdout.yaml`` (``remember``: messages that state a lasting preference of a payment
method; ``not_remember``: ``{kind, text}`` messages that do not: one-off choices, past facts, questions,
other preferences, negations, hypotheticals, chatter, ordinary requests) and returns counts only:
preferences kept (recall, Wilson 95% CI), messages kept that state none (``false_keeps``, per kind: a
false keep would put a method the customer never chose into later conversations' prompts, though a
write using it is still stated and needs a yes), and the accuracy over both. A message is kept when
the head's label other than ``none`` reaches ``threshold`` (what ``graph.recall`` does). The set's
texts are never printed: it stays a held-out measure.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from agentspec.errors import AgentSpecError

from .docqa import wilson

__all__ = ["HOLDOUT", "measure_preferences"]

HOLDOUT = Path(__file__).parent / "preferences_holdout.yaml"  # written blind; only its counts are looked at


def _load(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        keep = [str(t) for t in data["remember"]]
        other = [(str(e["kind"]), str(e["text"])) for e in data["not_remember"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise AgentSpecError(f"{path} is not a preference set ({exc})", code="bad_input",
                             hint="it needs `remember: [text, ...]` and `not_remember: [{kind, text}, ...]`") from None
    return keep, other


def measure_preferences(reader: Any, head: str, threshold: float, path: str | Path = HOLDOUT) -> dict[str, Any]:
    """Counts of the reader's ``head`` on the set at ``path`` (module docstring)."""
    if head not in getattr(reader, "choice_heads", {}):
        raise AgentSpecError(f"the reader has no choice head {head!r}", code="bad_input",
                             hint="train one with `agentspec train reader` on data with prefer_payment wording")
    keep, other = _load(Path(path))

    def kept(text: str) -> bool:
        return reader.read(text).chosen(head, threshold) is not None

    found = sum(kept(t) for t in keep)
    false = Counter(kind for kind, text in other if kept(text))
    total = len(keep) + len(other)
    return {"set": Path(path).name, "head": head, "threshold": threshold,
            "preferences": len(keep), "kept": found, "recall": round(found / max(len(keep), 1), 4),
            "recall_ci": wilson(found, len(keep)),
            "not_preferences": len(other), "false_keeps": sum(false.values()),
            "false_keeps_by_kind": {kind: false.get(kind, 0) for kind in sorted({k for k, _ in other})},
            "accuracy": round((found + len(other) - sum(false.values())) / max(total, 1), 4)}
