"""Questions about the retail documents (policy, catalogue, FAQ), their gold sources and answers, and recall@k.

``generate_questions(data_dir, seed=0) -> list[Question]`` (deterministic for a seed):

- **catalogue** (``db.json``'s products): per product, the price of one variant ("how much is the
  <product> with <options>?", gold: the price ``"50.88"``) and the availability of another (yes/no; half
  the products ask about a variant that is not available, where the product has one);
- **policy** facts and **FAQ** facts (``_docqa_facts``): hand-picked statements with short answers.

Every question has gold ``sources`` (passage sources such as ``catalog.md#T-Shirt``; the first is the
primary one), ``answers`` and a ``match`` rule (``any``: one answer appears in the reply; ``all``: every
one; ``yesno``: the reply's first yes/no word). Answers are compared after ``normalize``: lower case,
``$`` and thousands commas dropped, ``5-7`` read as ``5 to 7``, whole words only.

**Split by document and by wording.** Within each group (catalogue products, policy sections, FAQ
entries) the primary sources are shuffled with the seed and half of them go to ``test``; a question
belongs to its primary source's split. Dev questions are worded by ``_docqa_dev``, test questions by
``_docqa_test``: two independent wording families. The test family was written before any result
was seen and is never edited afterwards; look at and tune on ``dev`` only.

``retrieval_recall(questions, index, k=5)``: the share of questions with a gold source among the top-k
passages' sources, with its Wilson 95% interval (``wilson``), overall and per kind; ``at_1``: the same
for the first passage only.

Not here: asking a model (``_docqa_answer``), reports (``_docqa_run``), the documents (the retail toolkit).
"""
from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

from . import _docqa_dev, _docqa_test
from ._docqa_facts import FACTS

__all__ = ["Question", "generate_questions", "select", "normalize", "is_correct", "wilson", "retrieval_recall",
           "KINDS", "SPLITS"]

KINDS = ("price", "availability", "policy", "faq")
SPLITS = ("dev", "test")
_FAMILIES = {"dev": _docqa_dev, "test": _docqa_test}
_NEGATIVE = {"no", "not", "cannot", "can't", "cant", "unavailable", "never", "don't", "doesn't", "isn't", "won't"}
_POSITIVE = {"yes", "available", "can", "sure", "certainly"}


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    sources: tuple[str, ...]  # gold passage sources; the first is the primary one (it decides the split)
    answers: tuple[str, ...]
    match: str  # any | all | yesno
    kind: str  # price | availability | policy | faq
    split: str  # dev | test

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- generation -------------------------------------------------------------------------------------

def _split_of(sources: Sequence[str], group: str, seed: int) -> dict[str, str]:
    """Half of a group's primary sources (rounded up) go to test, by a seeded shuffle."""
    ordered = sorted(set(sources))
    random.Random(f"{seed}:{group}").shuffle(ordered)
    cut = math.ceil(len(ordered) / 2)
    return {s: "test" if i < cut else "dev" for i, s in enumerate(ordered)}


def _catalog_questions(products: dict[str, Any], seed: int) -> list[Question]:
    by_name = sorted(products.values(), key=lambda p: p["name"])
    split = _split_of([f"catalog.md#{p['name']}" for p in by_name], "catalog", seed)
    out = []
    for n, product in enumerate(by_name):
        name, source = product["name"], f"catalog.md#{product['name']}"
        family = _FAMILIES[split[source]]
        rng = random.Random(f"{seed}:{name}")
        variants = sorted(product["variants"].values(), key=lambda v: json.dumps(v["options"], sort_keys=True))
        priced = rng.choice(variants)
        out.append(Question(f"catalog:price:{name}", rng.choice(family.PRICE).format(
            product=name, options=family.options_text(priced["options"])), (source,),
            (f"{float(priced['price']):.2f}",), "any", "price", split[source]))
        wanted = n % 2 == 1  # odd products ask about an available variant, even ones about one that is not
        pool = [v for v in variants if bool(v["available"]) == wanted and v is not priced] or \
            [v for v in variants if v is not priced] or variants
        asked = rng.choice(pool)
        out.append(Question(f"catalog:availability:{name}", rng.choice(family.AVAILABILITY).format(
            product=name, options=family.options_text(asked["options"])), (source,),
            ("yes" if asked["available"] else "no",), "yesno", "availability", split[source]))
    return out


def _fact_questions(seed: int) -> list[Question]:
    out = []
    for group, prefix in (("policy", "p_"), ("faq", "f_")):
        facts = {k: v for k, v in FACTS.items() if k.startswith(prefix)}
        split = _split_of([sources[0] for sources, _, _ in facts.values()], group, seed)
        for fact_id, (sources, answers, match) in facts.items():
            which = split[sources[0]]
            out.append(Question(f"{group}:{fact_id}", _FAMILIES[which].FACTS[fact_id], sources, answers, match,
                                group, which))
    return out


def generate_questions(data_dir: str | Path, seed: int = 0) -> list[Question]:
    """Every question (both splits) about the documents of ``data_dir`` (its ``db.json``); see above."""
    path = Path(data_dir).expanduser() / "db.json"
    try:
        products = json.loads(path.read_text(encoding="utf-8"))["products"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AgentSpecError(f"cannot read the products of {path} ({exc.__class__.__name__}: {exc})",
                             hint="Pass --data pointing at the tau2 retail folder (policy.md, db.json).",
                             code="docqa_input") from None
    return _catalog_questions(products, seed) + _fact_questions(seed)


def select(questions: Sequence[Question], split: str | None = None, limit: int | None = None) -> list[Question]:
    """The questions of ``split`` (None: all), interleaved by kind so that a ``limit`` keeps every kind."""
    chosen = [q for q in questions if split is None or q.split == split]
    by_kind = [[q for q in chosen if q.kind == kind] for kind in KINDS]
    mixed = [q for row in _round_robin(by_kind) for q in row]
    return mixed[:limit] if limit else mixed


def _round_robin(rows: list[list[Question]]) -> list[list[Question]]:
    """Round-robin rows: [a1, b1, c1], [a2, b2], ... (price, availability, policy, faq, price, ...)."""
    return [[row[i] for row in rows if i < len(row)] for i in range(max((len(r) for r in rows), default=0))]


# ---- scoring answers -----------------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Lower case; ``$`` and thousands commas dropped; ``5-7`` -> ``5 to 7``; other punctuation spaced."""
    text = text.lower().replace("$", " ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " to ", text)
    text = re.sub(r"[^a-z0-9.:' ]+", " ", text)
    text = re.sub(r"(?<![0-9])[.:]|[.:](?![0-9])", " ", text)  # keep 50.88 and 2:30, drop sentence stops
    return " ".join(text.split())


def _contains(answer: str, gold: str) -> bool:
    return re.search(rf"(?<![a-z0-9.]){re.escape(normalize(gold))}(?![a-z0-9])", answer) is not None


def is_correct(question: Question, reply: str) -> bool:
    """Whether ``reply`` gives the question's answer under its ``match`` rule (see the module docstring).

    yes/no: the first word of ``_POSITIVE`` or ``_NEGATIVE`` decides ("It is not available" is a no).
    Otherwise an answer that the question itself contains ("... in a single conversation?") does not
    count, since repeating the question would match it, unless every answer is in the question.
    """
    answer = normalize(reply)
    if question.match == "yesno":
        words = [w for w in answer.split() if w in _NEGATIVE or w in _POSITIVE]
        said = None if not words else ("no" if words[0] in _NEGATIVE else "yes")
        return said == question.answers[0]
    asked = normalize(question.text)
    golds = [a for a in question.answers if not _contains(asked, a)] or list(question.answers)
    if question.match == "all":
        return all(_contains(answer, a) for a in golds)
    return any(_contains(answer, a) for a in golds)


def wilson(successes: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a proportion (95% for z = 1.96); [0, 1] when n = 0."""
    if n == 0:
        return [0.0, 1.0]
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


# ---- retrieval recall -----------------------------------------------------------------------------------

def _share(hits: Sequence[bool]) -> dict[str, Any]:
    n, k = len(hits), sum(hits)
    return {"n": n, "hits": k, "value": round(k / n, 4) if n else None, "ci": wilson(k, n)}


def retrieval_recall(questions: Sequence[Question], index: Any, k: int = 5) -> dict[str, Any]:
    """recall@k of ``index.search`` on ``questions``: overall, per kind, and one row per question."""
    rows = []
    for q in questions:
        found = [p.source for p in index.search(q.text, k=k)]
        rank = next((i for i, s in enumerate(found, start=1) if s in q.sources), None)
        rows.append({"id": q.id, "kind": q.kind, "hit": rank is not None, "rank": rank, "retrieved": found})
    by_kind = {kind: _share([r["hit"] for r in rows if r["kind"] == kind]) for kind in KINDS
               if any(r["kind"] == kind for r in rows)}
    return {"k": k, **_share([r["hit"] for r in rows]), "at_1": _share([r["rank"] == 1 for r in rows]),
            "by_kind": by_kind, "rows": rows}
