"""Fine-tune the encoder's top layers to read what a message asks for (``agentspec train reader-requests``).

    report = tune_requests(RequestsTuning(data="runs/reader-data", base="agentspec/specs/adapters/reader",
                                          out="runs/reader-requests"))

The frozen-feature ``requests`` head reads a mean of MiniLM states that were never trained on requests:
a negation beside a request ("I'm not asking for a cancellation, I want to swap the headphones for
the black ones") pulls the whole message towards nothing asked. Here the top ``layers`` of MiniLM
(default 2 of 6) and a sigmoid head over their ``sentence_features`` are trained end to end (torch,
CPU) on the rows of ``reader-data`` (text -> the request classes it asks for, each independent; every
row, or ``examples`` of them drawn at random), each class's positives weighted by how rare they are.
Texts are read with emoji spelled as names, as the reader serves them.

Output ``out/``: the ``base`` reader's files with its ``requests`` head replaced by the tuned one
(``reader.json``: ``heads.requests.encoder = "tuned"``; its layers as npz keys
``tuned_encoder.requests.<tensor>``, float16); ``LearnedReader`` then reads requests through them. Its
classes are the data's: a class the base's head lacked (a new request) comes with it. Resumable: each
finished epoch is saved to ``out/requests_tuning.pt``; a rerun with the same settings continues from it.
Progress goes to stderr.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.routing.reader import TUNED_PREFIX, Head
from agentspec.train._report import write_json
from agentspec.train._top_layers import TopLayers, fit_top_layers
from agentspec.train.reader import read_rows

__all__ = ["RequestsTuning", "RequestsTuningError", "tune_requests"]

MEMBER = "requests"  # the head (and its tuned layers' key prefix) the tuned reading replaces


@dataclass
class RequestsTuning:
    data: str | Path  # folder with reader.jsonl (``agentspec train reader-data``)
    base: str | Path  # the reader whose requests head is replaced
    out: str | Path
    layers: int = 2
    epochs: int = 2
    examples: int = 0  # rows drawn at random (0: every row)
    hidden: int = 256
    lr: float = 3e-5  # the encoder layers'; the head's is 1e-3
    batch: int = 32
    seed: int = 0


class RequestsTuningError(AgentSpecError):
    code = "train_requests"


def request_examples(rows: list[dict[str, Any]], examples: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """(texts, classes, 0/1 matrix rows x classes): every row, or ``examples`` drawn at random."""
    picked = list(rows)
    if examples and examples < len(picked):
        picked = random.Random(seed).sample(picked, examples)
    classes = sorted({c for r in picked for c in r.get("requests") or []})
    if not classes:
        raise RequestsTuningError("the reader data asks for no request at all",
                                  hint="Make it with `agentspec train reader-data` from wording families.")
    y = np.asarray([[c in (r.get("requests") or []) for c in classes] for r in picked], np.float32)
    return [r["text"] for r in picked], classes, y


def _settings_key(settings: RequestsTuning, texts: list[str]) -> str:
    fields = {k: str(v) for k, v in dataclasses.asdict(settings).items() if k not in ("out", "base")}
    return hashlib.sha256(json.dumps([fields, texts]).encode()).hexdigest()[:16]


def _check_inputs(data: Path, base: Path) -> None:
    if not data.is_file():
        raise RequestsTuningError(f"no reader data at {data}",
                                  hint="Make it with `agentspec train reader-data --db DB --out DIR`.")
    if not (base / "reader.json").is_file() or not (base / "reader.npz").is_file():
        raise RequestsTuningError(f"no reader at {base}", hint="Point --base at a folder of `agentspec train reader`.")


def tune_requests(settings: RequestsTuning, encoder: Any = None) -> dict[str, Any]:
    """Tune, save and describe (module docstring); returns what was trained on and how long it took."""
    import torch

    data, base, out = Path(settings.data) / "reader.jsonl", Path(settings.base), Path(settings.out)
    _check_inputs(data, base)
    if encoder is None:
        from agentspec.routing.encoder import SentenceEncoder

        encoder = SentenceEncoder.load()
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    texts, classes, labels = request_examples(read_rows(data), settings.examples, settings.seed)
    y = torch.tensor(labels)
    model = TopLayers(encoder.tensors, settings.layers, encoder.num_heads, encoder.layer_norm_eps)
    head = torch.nn.Sequential(torch.nn.Linear(2 * encoder.hidden_size, settings.hidden), torch.nn.ReLU(),
                               torch.nn.Linear(settings.hidden, len(classes)))
    positives = y.sum(0)
    loss_of = torch.nn.BCEWithLogitsLoss(pos_weight=((len(y) - positives) / positives.clamp(min=1)).sqrt())
    out.mkdir(parents=True, exist_ok=True)
    fit_top_layers(model, head, texts, y, loss_of, encoder.tokenizer, epochs=settings.epochs, lr=settings.lr,
                   batch=settings.batch, seed=settings.seed, checkpoint=out / "requests_tuning.pt",
                   key=_settings_key(settings, texts), label="requests tuning")
    trained_on = {"examples": len(texts), "requests": dict(zip(classes, map(int, positives.tolist()))),
                  "data": str(settings.data), "layers": settings.layers, "epochs": settings.epochs,
                  "seed": settings.seed}
    _save(base, out, model, head, classes, trained_on)
    return {"classes": classes, "trained_on": trained_on, "seconds": round(time.perf_counter() - started, 1)}


def _save(base: Path, out: Path, model: TopLayers, head: Any, classes: list[str], trained_on: dict[str, Any]) -> None:
    """``base``'s reader with its requests head replaced by the tuned one (its layers and head), to ``out``."""
    linear1, linear2 = head[0], head[2]
    tuned_head = Head(tuple(classes), "sigmoid", np.zeros(linear1.in_features, np.float32),
                      np.ones(linear1.in_features, np.float32), linear1.weight.detach().numpy().T.copy(),
                      linear1.bias.detach().numpy().copy(), linear2.weight.detach().numpy().T.copy(),
                      linear2.bias.detach().numpy().copy())
    meta = json.loads((base / "reader.json").read_text(encoding="utf-8"))
    with np.load(base / "reader.npz") as stored:
        arrays = {k: stored[k] for k in stored.files if not k.startswith((f"{MEMBER}.", f"{TUNED_PREFIX}{MEMBER}."))}
    arrays.update(tuned_head.arrays(MEMBER))
    arrays.update({f"{TUNED_PREFIX}{MEMBER}.{k}": v.detach().numpy().astype(np.float16) for k, v in model.tuned.items()})
    meta["heads"][MEMBER] = {"labels": list(classes), "kind": "sigmoid", "encoder": "tuned", "trained_on": trained_on}
    if base.resolve() != out.resolve():
        for extra in base.glob("reader_report.*"):
            shutil.copy2(extra, out / extra.name)
    partial = out / "reader.partial.npz"
    np.savez(partial, **arrays)
    partial.replace(out / "reader.npz")
    write_json(out / "reader.json", meta)
