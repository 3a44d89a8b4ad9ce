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

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.routing.reader import TUNED_REQUESTS
from agentspec.train._top_layers import TopLayers, fit_top_layers, save_tuned, settings_key
from agentspec.train.reader import read_rows

__all__ = ["RequestsTuning", "RequestsTuningError", "tune_requests"]

MEMBER = TUNED_REQUESTS  # the head (and its tuned layers' key prefix) the tuned reading replaces


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
                   key=settings_key(settings, texts), label="requests tuning")
    trained_on = {"examples": len(texts), "requests": dict(zip(classes, map(int, positives.tolist()))),
                  "data": str(settings.data), "layers": settings.layers, "epochs": settings.epochs,
                  "seed": settings.seed}
    save_tuned(base, out, MEMBER, model, head, tuple(classes), "sigmoid", trained_on)
    return {"classes": classes, "trained_on": trained_on, "seconds": round(time.perf_counter() - started, 1)}
