"""The learned reader: what a user message asks for, answers and gives, read by a trained model.

Contract: ``LearnedReader.load(path)`` reads a folder written by ``agentspec train reader``
(``reader.json``: the heads' labels and shapes; ``reader.npz``: their weights) and the sentence
encoder it was trained on (``agentspec.routing.encoder``). ``read(text) -> Reading``:

- ``requests``: request class -> probability, each independent (a message may ask for several, or
  for nothing: every probability low); a reader whose requests head is tuned (``agentspec train
  reader-requests``: the encoder's top layers fine-tuned with it, ``heads.requests.encoder: tuned``)
  reads them through its own layers, on the text with its emoji spelled as names;
- ``answer``: ``yes`` / ``no`` / ``neutral`` / ``other`` -> probability, for a message that answers a
  question whether to go ahead; ``neutral`` says nothing either way (thanks, small talk), ``other`` is
  a question, a condition, a change, anything else. A yes must hold in both readings of the answer
  (with and without the characters, when the reader has both) and in every part of the message: a
  part read alone that reads as a no or as something else (not neutral) vetoes it ("Yes, go ahead.
  Wait, use my PayPal instead"), a thank-you does not ("That's right, thank you. Please proceed.").
  A message that asks something back (it holds a question mark, in any of ``QUESTION_MARKS``'
  scripts) is never a yes: "yes?" or "that's the blue one?" answers nothing, and asking again costs
  one turn where a false yes runs a write nobody approved. Nor is a message the encoder did not read
  whole (``TokenStates.unread``: an emoji or script its vocabulary lacks, a text cut at its length):
  "sure 🙄" reads as "sure" to it, and what it cannot see may take the yes back. A reader with tuned
  answers (``agentspec train reader-answer``, once per member: the encoder's top layers fine-tuned
  with a head, ``answer_tuned``, ``answer_tuned_2``, ...) reads the answer with them alone, on the
  text with its emoji spelled as names (``spell_emoji``: "sure face with rolling eyes"), each under the
  same part, question and unread vetoes; the answer is the reading of the member least sure of a yes
  (a yes must be read by every member: independently tuned members rarely share a mistake);
- ``slots``: tag -> the text spans the message gives of it, in order (``first_name``, ``city``, ...);
- ``choices``: choice head -> label -> probability (e.g. which cancel reason the message says; the
  label ``none`` when it says none). A part of the message that alone says one label for sure outweighs
  the whole, where a long preamble dilutes it.

Which classes, tags and choice heads exist is the trained artifact's, not this module's: nothing here
knows a domain or a language. The heads read MiniLM features: the sentence embedding and the max over
token states for the sentence heads (and, for a head trained so, the text's hashed character
n-grams: ``char_features``); each token's state with its neighbours' for the tagger (BIO
tags, then whole words: a span ends where its last word piece's word ends).

Not here: training (``agentspec.train.reader``, ``agentspec.train.answer_tuning``); what the graph does
with a reading (``agentspec.graph``).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agentspec.errors import AgentSpecError
from agentspec.routing.emoji_names import spell_emoji

__all__ = ["ANSWERS", "QUESTION_MARKS", "TUNED_PREFIX", "TUNED_REQUESTS", "Head", "LearnedReader", "Reader", "Reading", "char_features", "decode_spans", "load_reader",
           "sentence_features", "token_features", "with_chars"]

ANSWERS = ("yes", "no", "neutral", "other")
# Question marks of the scripts a customer may write in: Latin/Cyrillic, fullwidth (CJK), Arabic/Persian/Urdu,
# Greek (U+037E), Armenian, Ethiopic, inverted Spanish, and the interrobang family.
QUESTION_MARKS = frozenset("?\uff1f\u061f\u037e\u055e\u1367\u00bf\u203d\u2047\u2048\u2049")
_WINDOW, _VETO = 8, 0.5  # tokens of a part of a message read alone, and the yes it must keep (``_held``)
TUNED_PREFIX = "tuned_encoder."  # npz keys ``tuned_encoder.<member head>.<encoder tensor>``: a tuned head's layers
TUNED_REQUESTS = "requests"  # the member name of a tuned requests head (the others are tuned answers)
_PART_CHOICE = 0.95  # a choice one part of a message says at least this sure outweighs the whole (``_choice``)


@dataclass(frozen=True)
class Reading:
    """One message as the reader read it (see the module docstring)."""

    requests: dict[str, float] = field(default_factory=dict)
    answer: dict[str, float] = field(default_factory=dict)
    slots: dict[str, list[str]] = field(default_factory=dict)
    choices: dict[str, dict[str, float]] = field(default_factory=dict)

    def asked(self, threshold: float) -> list[str]:
        """The request classes at or above ``threshold``, most probable first."""
        return sorted((c for c, p in self.requests.items() if p >= threshold), key=lambda c: -self.requests[c])

    def answered(self, yes: float, no: float) -> str:
        """``yes`` only when its probability reaches ``yes`` (a false yes runs a write nobody approved),
        ``no`` when that reaches ``no``, else ``unsure``."""
        if self.answer.get("yes", 0.0) >= yes:
            return "yes"
        if self.answer.get("no", 0.0) >= no:
            return "no"
        return "unsure"

    def chosen(self, head: str, threshold: float) -> str | None:
        """The label of choice ``head`` at or above ``threshold`` (never ``none``); None otherwise."""
        probs = self.choices.get(head, {})
        best = max(probs, key=probs.get, default=None)  # type: ignore[arg-type]
        return best if best is not None and best != "none" and probs[best] >= threshold else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON (rounded), for the graph state and the trace."""
        return {"requests": {k: round(v, 3) for k, v in self.requests.items() if v >= 0.01},
                "answer": {k: round(v, 3) for k, v in self.answer.items()},
                "slots": {k: list(v) for k, v in self.slots.items() if v},
                "choices": {h: {k: round(v, 3) for k, v in p.items() if v >= 0.01} for h, p in self.choices.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reading":
        return cls(dict(data.get("requests", {})), dict(data.get("answer", {})),
                   {k: list(v) for k, v in data.get("slots", {}).items()},
                   {h: dict(p) for h, p in data.get("choices", {}).items()})


@runtime_checkable
class Reader(Protocol):
    """What the graph needs of a reader: ``read(text)`` and the labels it can produce."""

    request_classes: tuple[str, ...]
    tags: tuple[str, ...]
    choice_heads: dict[str, tuple[str, ...]]

    def read(self, text: str) -> Reading: ...


# ---- heads ----------------------------------------------------------------------------------------

@dataclass
class Head:
    """A one-hidden-layer MLP (``hidden`` 0: linear) over standardised features; ``kind`` is ``softmax``
    (one label) or ``sigmoid`` (independent labels)."""

    labels: tuple[str, ...]
    kind: str
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray | None = None
    b2: np.ndarray | None = None
    chars: int = 0  # a sentence head that also reads ``char_features(text, chars)`` after the sentence's

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale @ self.w1 + self.b1
        if self.w2 is None:
            return h
        return np.maximum(h, 0.0) @ self.w2 + self.b2

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale, f"{prefix}.w1": self.w1,
               f"{prefix}.b1": self.b1}
        if self.w2 is not None and self.b2 is not None:
            out.update({f"{prefix}.w2": self.w2, f"{prefix}.b2": self.b2})
        return out

    @classmethod
    def from_arrays(cls, labels: list[str], kind: str, arrays: Any, prefix: str, chars: int = 0) -> "Head":
        def get(name: str) -> np.ndarray | None:
            key = f"{prefix}.{name}"
            return np.asarray(arrays[key], dtype=np.float32) if key in arrays else None

        return cls(tuple(labels), kind, get("mean"), get("scale"), get("w1"), get("b1"), get("w2"),  # type: ignore[arg-type]
                   get("b2"), chars)


def sentence_features(states: np.ndarray) -> np.ndarray:
    """[768]: the mean of the token states, L2-normalised (the sentence embedding), and their max."""
    mean = states.mean(axis=0)
    return np.concatenate([mean / max(float(np.linalg.norm(mean)), 1e-9), states.max(axis=0)]).astype(np.float32)


def char_features(text: str, dims: int) -> np.ndarray:
    """[dims]: the text's character 2- to 4-grams (lower-cased, runs of space as one, a space at each
    end) counted into ``dims`` buckets by a fixed hash, L2-normalised. Word pieces split a typo into
    pieces the encoder never saw together ("prcoeed"); most of its character n-grams stay."""
    padded = " " + " ".join(text.lower().split()) + " "
    counts = np.zeros(dims, np.float32)
    for n in (2, 3, 4):
        for i in range(len(padded) - n + 1):
            counts[zlib.crc32(padded[i:i + n].encode("utf-8")) % dims] += 1.0
    return counts / max(float(np.linalg.norm(counts)), 1e-9)


def with_chars(head: Head, features: np.ndarray, texts: list[str]) -> np.ndarray:
    """``features`` (one row per text) as ``head`` reads them: with the texts' character features appended
    when the head was trained on them (``Head.chars``)."""
    if not head.chars:
        return features
    return np.concatenate([features, np.stack([char_features(t, head.chars) for t in texts])], axis=1)


def token_features(states: np.ndarray) -> np.ndarray:
    """[T, 3 x 384]: each token's state with the previous and the next one's (zeros past the ends)."""
    pad = np.zeros((1, states.shape[1]), dtype=states.dtype)
    padded = np.concatenate([pad, states, pad])
    return np.concatenate([padded[:-2], padded[1:-1], padded[2:]], axis=1)


def decode_spans(text: str, tags: list[str], offsets: tuple[tuple[int, int], ...],
                 tokens: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """BIO labels per token -> (start, end, tag) character spans, extended to whole words. An ``I-x``
    after another tag starts a new span; special tokens ((0, 0) offsets) end any span."""
    spans: list[list[Any]] = []
    for label, (start, end), token in zip(tags, offsets, tokens):
        if start == end:
            continue
        continues = token.startswith("##") and spans and spans[-1][1] == start
        if continues:  # a word piece belongs to its word's span, whatever its own label
            spans[-1][1] = end
            continue
        if label == "O":
            spans.append([start, end, None])
            continue
        kind, tag = label.split("-", 1)
        if kind == "I" and spans and spans[-1][2] == tag:
            spans[-1][1] = end
        else:
            spans.append([start, end, tag])
    return [(s, e, t) for s, e, t in spans if t is not None]


def _held(head: Head, probs: np.ndarray, parts: np.ndarray | None, ceiling: float, text: str,
          unread: int) -> np.ndarray:
    """``probs`` (``head``'s answer on a whole message) with its yes at most ``ceiling`` and vetoed by any
    part that says something else: no window, read alone (``parts``: their probabilities), may read as
    no or other at ``_VETO`` or more ("Please go ahead... actually, no, let me think": the whole reads
    yes, its second half does not); a neutral part (a thank-you) vetoes nothing. A message holding a
    question mark has no yes at all, nor one the encoder did not read whole (``unread`` > 0; module
    docstring). The yes taken away goes to the last of no/other."""
    if "yes" not in head.labels:
        return probs
    yes = head.labels.index("yes")
    against = [head.labels.index(label) for label in ("no", "other") if label in head.labels]
    worst = float(parts[:, against].sum(axis=1).max()) if parts is not None and against else 0.0
    if worst >= _VETO:
        ceiling = min(ceiling, 1.0 - worst)
    if QUESTION_MARKS.intersection(text) or unread:
        ceiling = 0.0
    if probs[yes] > ceiling:
        moved = probs[yes] - ceiling
        probs[yes] -= moved
        probs[against[-1] if against else yes] += moved
    return probs


# ---- the reader -------------------------------------------------------------------------------------

class LearnedReader:
    """MiniLM features + trained heads (see the module docstring)."""

    def __init__(self, meta: dict[str, Any], heads: dict[str, Head], encoder: Any,
                 tuned: dict[str, Any] | None = None, requests_encoder: Any = None):
        self.meta = meta
        self.heads = heads
        self.encoder = encoder
        self.tuned = dict(tuned or {})  # tuned answer member (its head's name) -> its encoder (module docstring)
        self.requests_encoder = requests_encoder  # the tuned requests head's encoder (module docstring), or None
        self.request_classes = tuple(heads["requests"].labels)
        self.tags = tuple(sorted({label.split("-", 1)[1] for label in heads["tags"].labels if label != "O"}))
        self.choice_heads = {name.split(".", 1)[1]: heads[name].labels for name in heads if name.startswith("choice.")}

    @classmethod
    def load(cls, path: str | Path, encoder: Any = None) -> "LearnedReader":
        folder = Path(path)
        meta_path, weights_path = folder / "reader.json", folder / "reader.npz"
        if not meta_path.is_file() or not weights_path.is_file():
            raise AgentSpecError(f"no reader at {folder} (it needs reader.json and reader.npz)",
                                 hint="Train one with `agentspec train reader --data DIR --out DIR`, or point "
                                 "understanding.reader at its folder.", code="reader_missing")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(weights_path) as arrays:
                heads = {name: Head.from_arrays(h["labels"], h["kind"], arrays, name, int(h.get("chars", 0)))
                         for name, h in meta["heads"].items()}
                tuned: dict[str, dict[str, np.ndarray]] = {}
                for key in (k for k in arrays.files if k.startswith(TUNED_PREFIX)):
                    member, tensor = key.removeprefix(TUNED_PREFIX).split(".", 1)
                    tuned.setdefault(member, {})[tensor] = arrays[key]
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise AgentSpecError(f"{folder} is not a readable reader ({exc!r})", code="reader_corrupt",
                                 hint="Retrain it with `agentspec train reader`.") from exc
        for required in ("requests", "answer", "tags", *tuned):
            if required not in heads or heads[required].w1 is None:
                raise AgentSpecError(f"{folder}: the reader has no {required!r} head", code="reader_corrupt",
                                     hint="Retrain it with `agentspec train reader`.")
        requests_layers = tuned.pop(TUNED_REQUESTS, None)
        if (meta["heads"]["requests"].get("encoder") == "tuned") != (requests_layers is not None):
            raise AgentSpecError(f"{folder}: its requests head and its tuned layers do not go together",
                                 code="reader_corrupt", hint="Retune it with `agentspec train reader-requests`.")
        if wrong := [m for m in tuned if heads[m].labels != ANSWERS]:
            raise AgentSpecError(f"{folder}: the tuned answer {wrong[0]!r} does not give {', '.join(ANSWERS)}",
                                 code="reader_corrupt", hint="Retune it with `agentspec train reader-answer`.")
        if encoder is None:
            from agentspec.routing.encoder import SentenceEncoder

            encoder = SentenceEncoder.load()
        try:
            members = {member: encoder.variant(tensors) for member, tensors in sorted(tuned.items())}
            requests_encoder = None if requests_layers is None else encoder.variant(requests_layers)
        except ValueError as exc:
            raise AgentSpecError(f"{folder}: its tuned encoder layers do not fit the encoder ({exc})",
                                 code="reader_corrupt", hint="Retune it with `agentspec train reader-answer` on "
                                 "this encoder.") from exc
        return cls(meta, heads, encoder, members, requests_encoder)

    @staticmethod
    def _parts(text: str, states: Any) -> tuple[np.ndarray, list[str]] | None:
        """The features and texts of each window of ``_WINDOW`` tokens (stride half that) of a message
        (``states`` with [CLS] and [SEP]); None for a short message."""
        body, offsets = states.states[1:-1], states.offsets[1:-1]
        if len(body) <= _WINDOW:
            return None
        starts = range(0, len(body) - _WINDOW + 1, _WINDOW // 2)
        return (np.stack([sentence_features(body[i:i + _WINDOW]) for i in starts]),
                [text[offsets[i][0]:offsets[i + _WINDOW - 1][1]] for i in starts])

    def _answer(self, inputs: Callable[[Head], tuple[np.ndarray, np.ndarray | None]], text: str,
                unread: int = 0) -> np.ndarray:
        """The answer head on the whole message, its yes held to what the ``answer_check`` head (when the
        reader has one: the same answer read from other features) gives it, and vetoed (``_held``).
        ``inputs(head)``: the whole's and the windows' features as that head reads them."""
        head = self.heads["answer"]
        x, parts = inputs(head)
        ceiling = 1.0
        check = self.heads.get("answer_check")
        if check is not None and "yes" in check.labels:
            ceiling = float(check.probabilities(inputs(check)[0])[0][check.labels.index("yes")])
        return _held(head, head.probabilities(x)[0].copy(), None if parts is None else head.probabilities(parts),
                     ceiling, text, unread)

    def _tuned_answer(self, text: str) -> np.ndarray:
        """The answer of the tuned member least sure of a yes: each reads ``text`` with its emoji spelled
        as names (``spell_emoji``) through its own top layers and head, vetoed as any answer (``_held``)."""
        spelled = spell_emoji(text)
        readings = []
        for member, encoder in self.tuned.items():
            (states,) = encoder.encode([spelled])
            head = self.heads[member]
            parts = self._parts(spelled, states)
            body = states.states[1:-1] if len(states) > 2 else states.states
            whole = head.probabilities(sentence_features(body)[None, :])[0].copy()
            readings.append(_held(head, whole, None if parts is None else head.probabilities(parts[0]), 1.0, spelled,
                                  states.unread))
        return min(readings, key=lambda probs: float(probs[ANSWERS.index("yes")]))

    def _tuned_requests(self, text: str) -> np.ndarray:
        """The tuned requests head on ``text`` with its emoji spelled as names, through its own top layers."""
        (states,) = self.requests_encoder.encode([spell_emoji(text)])
        body = states.states[1:-1] if len(states) > 2 else states.states
        return self.heads["requests"].probabilities(sentence_features(body)[None, :])[0]

    @staticmethod
    def _choice(head: Head, x: np.ndarray, parts: np.ndarray | None) -> np.ndarray:
        """A choice head on the whole message, unless its windows read alone say exactly one label other
        than ``none`` at ``_PART_CHOICE`` or more: then that window's reading. A reason said after a long
        preamble is diluted in the whole ("... one more matter I'd like to raise. Would it be possible
        to cancel ...? I'm afraid I ordered it by mistake.") and plain in its own words."""
        probs = head.probabilities(x)[0]
        if parts is None or "none" not in head.labels:
            return probs
        windows = head.probabilities(parts)
        none = head.labels.index("none")
        said = [k for k in range(len(head.labels)) if k != none and float(windows[:, k].max()) >= _PART_CHOICE]
        return windows[int(windows[:, said[0]].argmax())] if len(said) == 1 else probs

    def read(self, text: str) -> Reading:
        (states,) = self.encoder.encode([text])
        body = states.states[1:-1] if len(states) > 2 else states.states  # without [CLS]/[SEP]
        whole, parts = sentence_features(body)[None, :], self._parts(text, states)
        read_as: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}  # by Head.chars: heads share features

        def inputs(head: Head) -> tuple[np.ndarray, np.ndarray | None]:
            if head.chars not in read_as:
                read_as[head.chars] = (with_chars(head, whole, [text]),
                                       None if parts is None else with_chars(head, parts[0], parts[1]))
            return read_as[head.chars]

        requests = self._tuned_requests(text) if self.requests_encoder is not None else \
            self.heads["requests"].probabilities(inputs(self.heads["requests"])[0])[0]
        if self.tuned:
            answer, answer_labels = self._tuned_answer(text), ANSWERS
        else:
            answer, answer_labels = self._answer(inputs, text, states.unread), self.heads["answer"].labels
        tag_head = self.heads["tags"]
        labels = [tag_head.labels[i] for i in tag_head.probabilities(token_features(states.states)).argmax(axis=1)]
        slots: dict[str, list[str]] = {}
        for start, end, tag in decode_spans(text, labels, states.offsets, states.tokens):
            slots.setdefault(tag, []).append(text[start:end])
        choices = {name.split(".", 1)[1]: dict(zip(head.labels, map(float, self._choice(head, *inputs(head)))))
                   for name, head in self.heads.items() if name.startswith("choice.")}
        return Reading(dict(zip(self.request_classes, map(float, requests))),
                       dict(zip(answer_labels, map(float, answer))), slots, choices)


_LOADED: dict[str, LearnedReader] = {}


def load_reader(path: str | Path) -> LearnedReader:
    """The reader at ``path``, loaded once per process (the encoder is shared by every session)."""
    key = str(Path(path).resolve())
    if key not in _LOADED:
        _LOADED[key] = LearnedReader.load(path)
    return _LOADED[key]
