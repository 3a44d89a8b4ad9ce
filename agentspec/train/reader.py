"""Fit the learned reader's heads (``agentspec train reader``) and measure them on wording it never saw.

    report = train_reader(ReaderSettings(data="runs/reader-data", out="runs/reader", eval_data=[...]))

Input: ``reader.jsonl`` of ``agentspec train reader-data`` (``agentspec.train.reader_data``): texts with
their requests, answer, tagged spans and choices, known by construction from the wording families.
The encoder (MiniLM, ``agentspec.routing.encoder``) stays frozen; what is fitted, in numpy:

- ``requests``: independent sigmoids, one per request class (a message asks for none, one or several);
- ``answer``: softmax over yes / no / other; with ``chars``, also ``answer_check`` on the MiniLM
  features alone (a yes is read only as sure as both read it);
- ``choice.<name>``: softmax over the labels of each choice the data carries (``reason``);
- ``tags``: per token softmax over BIO labels, on the token's state and its neighbours'.

Sentence heads read ``sentence_features`` (mean embedding + max over tokens, 768) and, with
``chars`` (default 1024), ``char_features`` (hashed character n-grams, robust to typos), the tagger
``token_features`` (3 x 384): the very functions the reader serves with, so training and serving
cannot drift. Each head is a one-hidden-layer MLP trained with Adam on class-balanced losses.

Steps, resumable: (1) encode every text once, cached in ``out/features.npz`` (a rerun with the same
data reuses it); (2) fit the heads; (3) write ``out/reader.json`` + ``out/reader.npz``; (4) evaluate
on each ``eval_data`` folder (wording nobody trained on: a held-out family's ``reader.jsonl``) and
on a 10 % split of the training texts, into ``out/reader_report.json`` and ``out/reader_report.png``.

Measures per evaluation set: requests (exact set at the threshold, per-class recall and precision),
answer (accuracy, false yes: a message not meaning yes read as one at the yes threshold, the
safety-critical error), tags (span precision / recall / F1 per tag, exact text), choices (accuracy).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.train._feature_cache import cached_features
from agentspec.routing.reader import (ANSWERS, Head, LearnedReader, Reading, char_features, sentence_features,
                                      token_features)
from agentspec.train._report import write_json

__all__ = ["ReaderError", "ReaderSettings", "evaluate_on_family", "evaluate_reader", "fit_head", "read_rows",
           "train_reader"]


@dataclass
class ReaderSettings:
    data: str | Path  # folder with reader.jsonl
    out: str | Path
    eval_data: list[str | Path] = field(default_factory=list)  # folders of held-out reader.jsonl
    eval_families: list[str] = field(default_factory=list)  # families to evaluate on (held-out users' values)
    eval_messages: int = 2000
    db: str | Path | None = None  # the db.json eval_families' messages are made from
    hidden: int = 256
    tag_hidden: int = 192
    epochs: int = 40
    tag_epochs: int = 12
    max_tag_examples: int = 9000
    seed: int = 0
    request_threshold: float = 0.5
    yes_threshold: float = 0.98
    no_threshold: float = 0.6
    chars: int = 1024  # the sentence heads also read the text's hashed character n-grams (0: not)


class ReaderError(AgentSpecError):
    code = "train_reader"


# ---- features --------------------------------------------------------------------------------------

def read_rows(path: Path) -> list[dict[str, Any]]:
    """The examples of a ``reader.jsonl``; a line that is no example is a ``ReaderError`` naming it."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReaderError(f"{path}:{n} is not JSON ({exc.msg})", hint="Each line must be one JSON object.") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ReaderError(f"{path}:{n} has no 'text'", hint="Use `agentspec train reader-data` output.")
        rows.append(row)
    return rows


def _encode(encoder: Any, texts: list[str], progress: bool) -> list[Any]:
    """Token states of every text, in batches (rich progress for long runs)."""
    out: list[Any] = []
    batch = 64
    if progress and len(texts) > batch:
        from rich.progress import Progress

        with Progress() as bar:
            task = bar.add_task("encoding texts", total=len(texts))
            for i in range(0, len(texts), batch):
                out += encoder.encode(texts[i:i + batch])
                bar.advance(task, len(texts[i:i + batch]))
        return out
    for i in range(0, len(texts), batch):
        out += encoder.encode(texts[i:i + batch])
    return out


def _bio(states: Any, spans: list[list[Any]], labels: list[str]) -> list[int]:
    """The BIO label index of each token from character spans (word pieces of a tagged word inside it)."""
    index = {label: i for i, label in enumerate(labels)}
    out = []
    previous: tuple[int, int, str] | None = None
    for start, end in states.offsets:
        found = next(((s, e, t) for s, e, t in spans if start < end and s <= start and end <= e + 0), None)
        if found is None and start < end:  # a token straddling a span edge (noise): inside if it overlaps
            found = next(((s, e, t) for s, e, t in spans if start < e and s < end), None)
        if found is None:
            out.append(index["O"])
            previous = None
            continue
        out.append(index[("I-" if previous == tuple(found) else "B-") + found[2]])
        previous = tuple(found)  # type: ignore[assignment]
    return out


def _features(rows: list[dict[str, Any]], encoder: Any, tag_labels: list[str], progress: bool,
              tag_rows: set[int] | None) -> dict[str, np.ndarray]:
    states = _encode(encoder, [r["text"] for r in rows], progress)
    sentence = np.stack([sentence_features(s.states[1:-1] if len(s) > 2 else s.states) for s in states])
    tokens, labels, owner = [], [], []
    for i, (row, s) in enumerate(zip(rows, states)):
        if tag_rows is not None and i not in tag_rows:
            continue
        tokens.append(token_features(s.states).astype(np.float16))
        labels += _bio(s, row.get("spans", []), tag_labels)
        owner += [i] * len(s)
    return {"sentence": sentence.astype(np.float32),
            "tokens": np.concatenate(tokens) if tokens else np.zeros((0, 1152), np.float16),
            "token_labels": np.asarray(labels, np.int64), "token_owner": np.asarray(owner, np.int64)}


# ---- fitting ---------------------------------------------------------------------------------------

def fit_head(x: np.ndarray, y: np.ndarray, labels: list[str], kind: str, *, hidden: int, epochs: int, seed: int,
             lr: float = 1e-3, batch: int = 256, l2: float = 1e-4, weights: np.ndarray | None = None) -> Head:
    """An MLP head fitted with Adam. ``y``: class indices (softmax) or a 0/1 matrix (sigmoid); ``weights``
    per row (class balance)."""
    rng = np.random.default_rng(seed)
    xf = x.astype(np.float32)
    mean = xf.mean(axis=0)
    scale = xf.std(axis=0) + 1e-4
    n, d = x.shape
    k = len(labels)
    params = {"w1": (rng.standard_normal((d, hidden)) * math.sqrt(2.0 / d)).astype(np.float32),
              "b1": np.zeros(hidden, np.float32),
              "w2": (rng.standard_normal((hidden, k)) * math.sqrt(1.0 / hidden)).astype(np.float32),
              "b2": np.zeros(k, np.float32)}
    moments = {name: (np.zeros_like(p), np.zeros_like(p)) for name, p in params.items()}
    w = np.ones(n, np.float32) if weights is None else weights.astype(np.float32)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            xb = (x[idx].astype(np.float32) - mean) / scale
            h = xb @ params["w1"] + params["b1"]
            a = np.maximum(h, 0.0)
            z = a @ params["w2"] + params["b2"]
            if kind == "sigmoid":
                p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
                g = (p - y[idx]) / len(idx)
            else:
                z -= z.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                p[np.arange(len(idx)), y[idx]] -= 1.0
                g = p / len(idx)
            g *= w[idx][:, None]
            grads = {"w2": a.T @ g + l2 * params["w2"], "b2": g.sum(axis=0)}
            da = g @ params["w2"].T
            da[h <= 0] = 0.0
            grads.update({"w1": xb.T @ da + l2 * params["w1"], "b1": da.sum(axis=0)})
            step += 1
            for name, grad in grads.items():  # Adam
                m, v = moments[name]
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad * grad
                params[name] -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    return Head(tuple(labels), kind, mean, scale, params["w1"], params["b1"], params["w2"], params["b2"])


def _balanced(y: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(y, minlength=k).astype(np.float32)
    return (len(y) / (k * np.maximum(counts, 1)))[y]


def _label_sets(rows: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[str, list[str]]]:
    classes = sorted({c for r in rows for c in r.get("requests", [])})
    tags = sorted({s[2] for r in rows for s in r.get("spans", [])})
    tag_labels = ["O"] + [f"{p}-{t}" for t in tags for p in ("B", "I")]
    choices: dict[str, set[str]] = {}
    for r in rows:
        for name, value in (r.get("choices") or {}).items():
            choices.setdefault(name, set()).add(value)
    return classes, tag_labels, {name: sorted(values) for name, values in sorted(choices.items())}


def _cached_features(settings: ReaderSettings, rows: list[dict[str, Any]], encoder: Any, tag_labels: list[str],
                     tag_rows: set[int]) -> dict[str, np.ndarray]:
    """Every row's features, encoding only messages a previous run did not (``_feature_cache``)."""
    def compute(indices: list[int], tagged: set[int]) -> dict[str, np.ndarray]:
        subset = [rows[i] for i in indices]
        local = {i: j for j, i in enumerate(indices)}
        return _features(subset, encoder, tag_labels, progress=True, tag_rows={local[i] for i in tagged})

    meta = f"{settings.max_tag_examples}:{settings.seed}:{'|'.join(tag_labels)}"
    return cached_features(Path(settings.out) / "features.npz", rows, tag_rows, meta, compute)


def _fit_all(rows: list[dict[str, Any]], feats: dict[str, np.ndarray], labels: tuple[Any, ...],
             settings: ReaderSettings) -> dict[str, Head]:
    classes, tag_labels, choices = labels
    x = feats["sentence"] if "chars" not in feats else np.concatenate([feats["sentence"], feats["chars"]], axis=1)
    heads: dict[str, Head] = {}
    y_requests = np.asarray([[c in r.get("requests", []) for c in classes] for r in rows], np.float32)
    heads["requests"] = fit_head(x, y_requests, classes, "sigmoid", hidden=settings.hidden, epochs=settings.epochs,
                                 seed=settings.seed)
    y_answer = np.asarray([ANSWERS.index(r.get("answer", "other")) for r in rows], np.int64)
    heads["answer"] = fit_head(x, y_answer, list(ANSWERS), "softmax", hidden=settings.hidden, epochs=settings.epochs,
                               seed=settings.seed + 1, weights=_balanced(y_answer, len(ANSWERS)))
    for name, values in choices.items():
        y = np.asarray([values.index((r.get("choices") or {}).get(name, "none")) for r in rows], np.int64)
        heads[f"choice.{name}"] = fit_head(x, y, values, "softmax", hidden=settings.hidden, epochs=settings.epochs,
                                           seed=settings.seed + 2, weights=_balanced(y, len(values)))
    chars = feats["chars"].shape[1] if "chars" in feats else 0
    heads = {name: dataclasses.replace(head, chars=chars) for name, head in heads.items()}
    if chars:  # a yes must also be read without the characters (``LearnedReader._answer``)
        heads["answer_check"] = fit_head(feats["sentence"], y_answer, list(ANSWERS), "softmax", hidden=settings.hidden,
                                         epochs=settings.epochs, seed=settings.seed + 1,
                                         weights=_balanced(y_answer, len(ANSWERS)))
    yt = feats["token_labels"]
    heads["tags"] = fit_head(feats["tokens"], yt, tag_labels, "softmax", hidden=settings.tag_hidden,
                             epochs=settings.tag_epochs, seed=settings.seed + 3,
                             weights=np.sqrt(_balanced(yt, len(tag_labels))))
    return heads


def _save(out: Path, heads: dict[str, Head], settings: ReaderSettings, counts: dict[str, Any]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, head in heads.items():
        arrays.update(head.arrays(name))
    meta = {"format": 1, "encoder": "all-MiniLM-L6-v2", "features": {"sentence": 768, "tokens": 1152},
            "heads": {name: {"labels": list(head.labels), "kind": head.kind, **({"chars": head.chars} if head.chars else {})}
                      for name, head in heads.items()},
            "thresholds": {"request": settings.request_threshold, "yes": settings.yes_threshold,
                           "no": settings.no_threshold},
            "trained_on": counts}
    partial = out / "reader.partial.npz"
    np.savez(partial, **arrays)
    partial.replace(out / "reader.npz")
    write_json(out / "reader.json", meta)


# ---- evaluation ------------------------------------------------------------------------------------

def evaluate_reader(reader: Any, rows: list[dict[str, Any]], settings: ReaderSettings) -> dict[str, Any]:
    """The measures of the module docstring on ``rows`` (each read with ``reader.read``)."""
    readings: list[Reading] = [reader.read(r["text"]) for r in rows]
    classes = list(reader.request_classes)
    exact, per_class = 0, {c: {"tp": 0, "fp": 0, "fn": 0} for c in classes}
    answers = {"correct": 0, "false_yes": 0, "n": 0, "yes_missed": 0, "by_truth": {}}
    spans = {}
    choice_hits, choice_n = 0, 0
    for row, reading in zip(rows, readings):
        truth, got = set(row.get("requests", [])), set(reading.asked(settings.request_threshold))
        exact += truth == got
        for c in classes:
            key = "tp" if c in truth and c in got else "fp" if c in got else "fn" if c in truth else None
            if key:
                per_class[c][key] += 1
        said = reading.answered(settings.yes_threshold, settings.no_threshold)
        want = {"yes": "yes", "no": "no"}.get(row.get("answer", "other"), "unsure")  # neutral: no confirmation
        answers["n"] += 1
        answers["correct"] += said == want
        answers["false_yes"] += said == "yes" and want != "yes"
        answers["yes_missed"] += want == "yes" and said != "yes"
        bucket = answers["by_truth"].setdefault(want, {"n": 0, "correct": 0})
        bucket["n"] += 1
        bucket["correct"] += said == want
        gold = {(row["text"][s:e].lower(), t) for s, e, t in row.get("spans", [])}
        found = {(v.lower(), t) for t, values in reading.slots.items() for v in values}
        for tag in {t for _, t in gold | found}:
            counts = spans.setdefault(tag, {"tp": 0, "fp": 0, "fn": 0})
            g = {x for x in gold if x[1] == tag}
            f = {x for x in found if x[1] == tag}
            counts["tp"] += len(g & f)
            counts["fp"] += len(f - g)
            counts["fn"] += len(g - f)
        for name, value in (row.get("choices") or {}).items():
            if value != "none":
                choice_n += 1
                choice_hits += reading.chosen(name, 0.5) == value

    def prf(c: dict[str, int]) -> dict[str, float]:
        p = c["tp"] / max(c["tp"] + c["fp"], 1)
        r = c["tp"] / max(c["tp"] + c["fn"], 1)
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4),
                "support": c["tp"] + c["fn"]}

    return {"examples": len(rows), "requests_exact": round(exact / max(len(rows), 1), 4),
            "requests": {c: prf(v) for c, v in per_class.items()},
            "answer_accuracy": round(answers["correct"] / max(answers["n"], 1), 4),
            "false_yes": answers["false_yes"], "yes_missed": answers["yes_missed"],
            "answer_by_truth": {k: round(v["correct"] / max(v["n"], 1), 4) for k, v in answers["by_truth"].items()},
            "tags": {t: prf(c) for t, c in sorted(spans.items())},
            "choice_accuracy": round(choice_hits / max(choice_n, 1), 4), "choice_examples": choice_n}


_REPLIES = {"yes", "no", "unsure", "unrelated", "change_mind", "done", "wait"}


def evaluate_on_family(reader_dir: str | Path, family: str, db: str | Path, out: str | Path, *, n: int = 4000,
                       seed: int = 1, settings: ReaderSettings | None = None, encoder: Any = None) -> dict[str, Any]:
    """A trained reader measured on one wording family it was never trained on (held-out users' values):
    every message, and apart the replies to a stated write (yes, no, unsure, unrelated, a change of
    mind, a closing): the confirmation reading, where a false yes is the error that matters. Writes
    ``out/reader_eval.json`` and ``out/reader_eval.png``; the messages in ``out/reader.jsonl``."""
    from agentspec.train.reader_data import write_reader_data

    out = Path(out)
    write_reader_data(db, out, n, seed=seed, families=[family], progress=False, evaluation=True)
    rows = read_rows(out / "reader.jsonl")
    reader = LearnedReader.load(reader_dir, encoder=encoder)
    settings = settings or ReaderSettings(data=out, out=out)
    replies = [r for r in rows if set(r.get("acts", [])) <= _REPLIES]
    report = {"reader": str(reader_dir), "family": family, "messages": len(rows),
              "evaluations": {"every message": evaluate_reader(reader, rows, settings),
                              "replies to a stated write": evaluate_reader(reader, replies, settings)}}
    write_json(out / "reader_eval.json", report)
    _plot(out, report, "reader_eval.png", f"Reader on the {family} wording (never trained on)")
    return report


def _plot(out: Path, report: dict[str, Any], name: str = "reader_report.png",
          title: str = "Reader on wording it was not trained on") -> None:
    from agentspec.train._report import _pyplot

    plt = _pyplot()
    sets = list(report["evaluations"])
    measures = ["requests_exact", "answer_accuracy", "choice_accuracy"]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(sets), 1)
    for j, label in enumerate(sets):
        values = [report["evaluations"][label][m] for m in measures]
        tag_f1 = [v["f1"] for v in report["evaluations"][label]["tags"].values()]
        values.append(float(np.mean(tag_f1)) if tag_f1 else 0.0)
        ax.bar([i + j * width for i in range(len(values))], values, width, label=label)
    ax.set_xticks([i + width * (len(sets) - 1) / 2 for i in range(len(measures) + 1)],
                  ["requests (exact set)", "yes/no/other", "choices", "tags (mean F1)"])
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / name, dpi=120)
    plt.close(fig)


def train_reader(settings: ReaderSettings, encoder: Any = None) -> dict[str, Any]:
    """Fit, save, evaluate (see the module docstring); returns the report."""
    data = Path(settings.data) / "reader.jsonl"
    if not data.is_file():
        raise ReaderError(f"no reader data at {data}", hint="Make it with `agentspec train reader-data --db DB --out DIR`.")
    rows = read_rows(data)
    if len(rows) < 50:
        raise ReaderError(f"{data} has {len(rows)} examples; a reader needs hundreds",
                          hint="Generate more with `agentspec train reader-data --n 20000`.")
    if encoder is None:
        from agentspec.routing.encoder import SentenceEncoder

        encoder = SentenceEncoder.load()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = _label_sets(rows)
    rng = np.random.default_rng(settings.seed)
    held = set(rng.choice(len(rows), size=max(1, len(rows) // 10), replace=False).tolist())
    train_idx = [i for i in range(len(rows)) if i not in held]
    with_spans = [i for i in train_idx if rows[i].get("spans")]
    others = [i for i in train_idx if not rows[i].get("spans")]
    room = max(settings.max_tag_examples - len(with_spans), settings.max_tag_examples // 4)
    tag_rows = set(with_spans[:settings.max_tag_examples]) | set(rng.permutation(others)[:room].tolist())
    feats = _cached_features(settings, rows, encoder, labels[1], tag_rows)
    train_rows = [rows[i] for i in train_idx]
    keep_tokens = np.isin(feats["token_owner"], train_idx)
    train_feats = {"sentence": feats["sentence"][train_idx], "tokens": feats["tokens"][keep_tokens],
                   "token_labels": feats["token_labels"][keep_tokens]}
    if settings.chars:
        train_feats["chars"] = np.stack([char_features(rows[i]["text"], settings.chars) for i in train_idx])
    heads = _fit_all(train_rows, train_feats, labels, settings)
    counts = {"examples": len(train_rows), "tag_tokens": int(keep_tokens.sum()),
              "families": sorted({r.get("family", "?") for r in rows})}
    _save(out, heads, settings, counts)
    reader = LearnedReader.load(out, encoder=encoder)
    evaluations = {"training wording, held-out texts": evaluate_reader(reader, [rows[i] for i in sorted(held)], settings)}
    folders = [Path(f) for f in settings.eval_data]
    for name in settings.eval_families:
        if settings.db is None:
            raise ReaderError("evaluating on a wording family needs the db its messages are made from",
                              hint="pass --db ../shared/data/tau2-retail/db.json")
        from agentspec.train.reader_data import write_reader_data

        folder = out / f"eval-{Path(name).stem}"
        write_reader_data(settings.db, folder, settings.eval_messages, seed=settings.seed + 1, families=[name],
                          progress=False, evaluation=True)
        folders.append(folder)
    for folder in folders:
        eval_rows = read_rows(Path(folder) / "reader.jsonl")
        families = sorted({r.get("family", "?") for r in eval_rows})
        evaluations[f"{'+'.join(families)} (never trained on)"] = evaluate_reader(reader, eval_rows, settings)
    report = {"trained_on": counts, "labels": {"requests": labels[0], "tags": labels[1], "choices": labels[2]},
              "thresholds": {"request": settings.request_threshold, "yes": settings.yes_threshold,
                             "no": settings.no_threshold},
              "evaluations": evaluations}
    write_json(out / "reader_report.json", report)
    _plot(out, report)
    return report
