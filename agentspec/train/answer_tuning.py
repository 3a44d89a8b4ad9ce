"""Fine-tune the encoder's top layers to read a reply to a stated write (``agentspec train reader-answer``).

    report = tune_answer(AnswerTuning(data="runs/reader-data", base="agentspec/specs/adapters/reader",
                                      out="runs/reader-tuned", replies=[...]))

The frozen-feature ``answer`` heads read MiniLM states that were never trained on replies; here the top
``layers`` of MiniLM (default 2 of 6) and a head over their ``sentence_features`` are trained end to end
(torch, CPU) on:

1. the rows of ``reader-data`` that answer (yes / no / neutral, and those whose acts resemble a yes or
   wait, labelled other) and ``others`` more rows of the rest (other);
2. labelled reply files (``replies``: YAML with ``clear_yes`` and ``not_yes``, each a mapping kind ->
   texts): a clear yes is ``yes``; a not-yes of a kind in ``NO_KINDS`` is ``no``, any other ``other``.

Texts are read with emoji spelled as names (``agentspec.routing.emoji_names``), as the reader serves
them. Losses are class-balanced. The lower layers stay frozen: their states are computed once.

Output ``out/``: the ``base`` reader's files with one more tuned answer member: its layers (float16,
npz keys ``tuned_encoder.<member>.<tensor>``) and its head, ``answer_tuned`` for the first member,
``answer_tuned_2`` for a second (a run on a reader that has one, usually with another ``seed``), ...;
``LearnedReader`` then reads the answer with them: a yes must be read by every member.
Resumable: each finished epoch is saved to ``out/answer_tuning.pt``; a rerun with the same settings
continues from it. Progress goes to stderr.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.routing.reader import ANSWERS, TUNED_REQUESTS
from agentspec.train._top_layers import TopLayers, fit_top_layers, save_tuned, settings_key
from agentspec.train.reader import read_rows

__all__ = ["AnswerTuning", "AnswerTuningError", "NO_KINDS", "answer_examples", "packaged_replies", "tune_answer"]

NO_KINDS = frozenset({"plain_no", "typo_no"})  # not-yes kinds of a reply file that say no outright
_ANSWERING_ACTS = frozenset({"resembles_yes", "wait"})  # reader-data acts that answer without a yes or no
@dataclass
class AnswerTuning:
    data: str | Path  # folder with reader.jsonl (``agentspec train reader-data``)
    base: str | Path  # the reader folder the tuned answer is added to
    out: str | Path
    replies: list[str | Path] = field(default_factory=list)  # labelled reply files (module docstring)
    reply_weight: int = 1  # each reply file's text counts this many times (they are few, the rows many)
    layers: int = 2
    epochs: int = 3
    others: int = 8000
    hidden: int = 256
    lr: float = 3e-5  # the encoder layers'; the head's is 1e-3
    batch: int = 32
    seed: int = 0


class AnswerTuningError(AgentSpecError):
    code = "train_answer"


def _reply_examples(path: Path) -> list[tuple[str, str]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        groups = {group: data[group] for group in ("clear_yes", "not_yes")}
        pairs = [(str(t), "yes") for texts in groups["clear_yes"].values() for t in texts]
        pairs += [(str(t), "no" if kind in NO_KINDS else "other") for kind, texts in groups["not_yes"].items()
                  for t in texts]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise AnswerTuningError(f"{path} is no reply file ({exc!r})", hint="It needs `clear_yes:` and `not_yes:`, "
                                "each a mapping of kind -> list of texts.") from exc
    return pairs


def packaged_replies() -> list[Path]:
    """The labelled reply files the packaged reader's tuned answer is trained on (``evals/replies/train_*``)."""
    from importlib.resources import files

    return sorted((Path(str(files("agentspec.evals"))) / "replies").glob("train_*.yaml"))


def answer_examples(rows: list[dict[str, Any]], replies: list[Path], others: int, seed: int,
                    reply_weight: int = 1) -> list[tuple[str, str]]:
    """(text, answer label) pairs to tune on (module docstring, 1 and 2; each reply ``reply_weight`` times), in
    a seeded order."""
    answering = [r for r in rows if r.get("answer", "other") != "other" or _ANSWERING_ACTS & set(r.get("acts", ()))]
    rest = [r for r in rows if r.get("answer", "other") == "other" and not _ANSWERING_ACTS & set(r.get("acts", ()))]
    rng = random.Random(seed)
    rng.shuffle(rest)
    pairs = [(r["text"], r.get("answer", "other")) for r in answering + rest[:others]]
    for path in replies:
        pairs += _reply_examples(Path(path)) * reply_weight
    rng.shuffle(pairs)
    return pairs


def tune_answer(settings: AnswerTuning, encoder: Any = None) -> dict[str, Any]:
    """Tune, save and describe (module docstring); returns what was trained on and how long it took."""
    import torch

    data, base, out = Path(settings.data) / "reader.jsonl", Path(settings.base), Path(settings.out)
    if not data.is_file():
        raise AnswerTuningError(f"no reader data at {data}", hint="Make it with `agentspec train reader-data --db DB --out DIR`.")
    if not (base / "reader.json").is_file() or not (base / "reader.npz").is_file():
        raise AnswerTuningError(f"no reader at {base}", hint="Point --base at a folder of `agentspec train reader`.")
    if encoder is None:
        from agentspec.routing.encoder import SentenceEncoder

        encoder = SentenceEncoder.load()
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    pairs = answer_examples(read_rows(data), [Path(p) for p in settings.replies], settings.others, settings.seed,
                            settings.reply_weight)
    y = torch.tensor([ANSWERS.index(label) for _, label in pairs])
    model = TopLayers(encoder.tensors, settings.layers, encoder.num_heads, encoder.layer_norm_eps)
    head = torch.nn.Sequential(torch.nn.Linear(2 * encoder.hidden_size, settings.hidden), torch.nn.ReLU(),
                               torch.nn.Linear(settings.hidden, len(ANSWERS)))
    counts = torch.bincount(y, minlength=len(ANSWERS)).float()
    loss_of = torch.nn.CrossEntropyLoss(weight=counts.sum() / (len(ANSWERS) * counts.clamp(min=1)))
    out.mkdir(parents=True, exist_ok=True)
    fit_top_layers(model, head, [t for t, _ in pairs], y, loss_of, encoder.tokenizer, epochs=settings.epochs,
                   lr=settings.lr, batch=settings.batch, seed=settings.seed, checkpoint=out / "answer_tuning.pt",
                   key=settings_key(settings, pairs), label="answer tuning")
    trained_on = {"examples": len(pairs), "answers": dict(zip(ANSWERS, map(int, counts.tolist()))),
                  "replies": [str(p) for p in settings.replies], "layers": settings.layers, "epochs": settings.epochs,
                  "seed": settings.seed}
    member = _save(base, out, model, head, trained_on)
    return {"member": member, "trained_on": trained_on, "seconds": round(time.perf_counter() - started, 1)}


def _save(base: Path, out: Path, model: TopLayers, head: Any, trained_on: dict[str, Any]) -> str:
    """``base``'s reader with one more tuned answer member (its layers and head), written to ``out``; the
    member's name (``answer_tuned``, then ``answer_tuned_2``, ...)."""
    meta = json.loads((base / "reader.json").read_text(encoding="utf-8"))
    members = [name for name, h in meta["heads"].items() if h.get("encoder") == "tuned" and name != TUNED_REQUESTS]
    member = "answer_tuned" if not members else f"answer_tuned_{len(members) + 1}"
    save_tuned(base, out, member, model, head, ANSWERS, "softmax", trained_on)
    return member
