"""Labelled customer messages for the learned reader, generated from wording families.

``generate_reader_examples(db, families, n, seed)`` returns ``n`` examples; ``write_reader_data``
writes them to ``OUT/reader.jsonl`` with counts in ``OUT/reader_meta.json``. Every message is
a family's templates filled with real values of a *training* user (``user_split(db, 0, 0.3)[0]``), so
its labels are known by construction, never guessed from its words:

- ``requests``: the classes of the request templates used (``REQUEST_CLASS``), sorted; [] for none (an
  order's shipping address is ``modify_address``, the account's default address ``account_address``:
  different writes, so the reader tells them apart);
- ``answer``: "yes" / "no" only for the ``yes`` (or ``yes_restated``) / ``no`` field said alone, else
  "neutral" for small talk, else "other" (``resembles_yes``: a yes word that is no yes, among them);
- ``spans``: ``[start, end, tag]`` over the final text (after noise) for every inserted name, zip and
  address part (``TAGS``), exactly as rendered (an abbreviated "12 Oak St", a lowercased name: see
  ``_values``); emails and order ids are inserted but not tagged;
- ``choices.reason``: the cancel reason said ("no longer needed", "ordered by mistake") or "none";
- ``choices.remember``: what the message asks the shop to remember for later ("payment_method": a lasting
  preference of a payment method, the ``prefer_payment`` act; ``REMEMBER``) or "none" (a method only
  mentioned, ``mention_payment``, a preference negated, undecided, asked about or for once only,
  ``not_prefer_payment``, or a method used for one order, is "none");
- ``acts``: the family fields used, outermost first (labels are a function of them); ``kind``: the
  example kind (``KINDS``); ``family``: the family whose request it says; ``noise``: kinds.

A request is said one of three ways: in full (its details: order, items, address, method), bare (no
details at all: ``bare_*``, "I need to cancel an order") or loose (one item of a real order, a problem
then the wish: ``loose_*``, or, where the family words it, only the items and the variants wanted:
``brief_exchange``/``brief_modify``; exchange, return and modify_items only). A question about a catalogue
product (class ``product``, the ``product_question`` field filled with a product's name) is said in
full only, and only by families that word it. Example kinds and weights
(``KINDS``, out of 182): a single request in full 24 (class uniform, then its field: forbidden variants
about a quarter), bare 8 (class uniform), loose 4 (so bare and loose are a third of single requests);
inside every other kind a request is in full 60%, bare 30%, loose 10%: two or three requests of distinct
classes joined 12, a request wrapped in next/state/restate 9, a negation + a request of another class 10
(the negation first or last; the request bare 40%, loose 30%, in full 30%), a negation alone 3, a
negation with a greeting before it or thanks/small talk/closing after it (no request) 4, an identity
answer (email, name_zip, forgot) 8, identity + request in one message 5, yes 8, no 7, unsure 5, unrelated 6, change_mind 2, vague opening (after a greeting or not) 5, done 4, wait 2,
greeting + request 4, an address alone 3, a cancel with its reason (alone, after a greeting,
before another request, or as the next request of a conversation) 12, a reason alone 3 (the cancel reason head sees few reasons otherwise: one
in 26 messages), a lasting payment preference (alone, greeted, after the identity, with thanks, or
beside a request) 5, a payment method said without one 5 (a mention, or, 60% where the family words
it, a preference negated, withdrawn, undecided, asked about or for once only), a yes that restates the
action 3, a reply that only resembles a yes 5 (these kinds only from families that word them: a family
without the optional field draws another kind), another request's opener from any family ("oh and while
ur at it {r}") before a request (bare 50%, loose 25%, in full 25%) or, 20%, thanks or a closing 10, an
answer to the agent's question (a payment method, an order, items; one or two, after the family's
``state`` phrase or alone: "My request is this: my gift card"), no request, 6.
Families take turns (example ``i`` uses family ``i % k``).

Noise, drawn independently: lowercase all (25%) or drop the first capital (15% of the rest), drop
``.,!?;`` outside inserted values (15%), one or two swapped inner letters of a word of five letters or
more outside inserted values (35%), a doubled space or a leading/trailing space (10%). Text is built as
segments (literal text, tagged value) and noised per segment, so spans stay exact.

Held-out families are refused (``ReaderDataError``), except for an evaluation set (``evaluation=True``:
held-out users' values too). Each request is said by ``_reader_requests``. Not here: training the
reader, evaluating it.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentspec.evals._describe import _join, describe_item
from agentspec.evals.generate import user_split
from agentspec.evals.wording import Family, load_family, training_families
from agentspec.train._reader_requests import (REASONS, REQUEST_CLASS, Builder, ReaderDataError, ends_sentence,
                                              field_builder, joined, request, request_classes, request_field, then)
from agentspec.train._spans import Text, decap, fill, flatten, roughen, tagged
from agentspec.train._values import TAGS, Store, act, change, methods, names, order, swaps, where

__all__ = ["KINDS", "REASONS", "REMEMBER", "REQUEST_CLASS", "ReaderDataError", "TAGS", "generate_reader_examples",
           "write_reader_data"]


_NEGATES = {"not_cancel": ("cancel",), "not_return": ("return",), "not_exchange": ("exchange",),
            "not_modify": ("modify_items",), "not_address": ("modify_address", "account_address")}
_FORGOTTEN = ("my email address", "my order id", "the order number", "the email on my account", "my zip code",
              "my order number", "which email I used")


# ---- example kinds ---------------------------------------------------------------------------------

def _multi(f, r, s, u):
    said = request(f, r, s, u)
    for _ in range(1 if r.random() < 0.75 else 2):
        said = joined(f, r, said, request(f, r, s, u, exclude=request_classes(said)))
    return said


_NEGATED_STYLES = {"full": 3, "bare": 4, "loose": 3}  # a request beside a correction is said briefly more often


def _negated(f, r, s, u):
    """A negation and a request of another class (``_NEGATED_STYLES``), the negation first (70%) or last."""
    field = r.choice(tuple(_NEGATES))
    style = r.choices(list(_NEGATED_STYLES), list(_NEGATED_STYLES.values()))[0]
    negation, said = act(f, field, r), request(f, r, s, u, exclude=_NEGATES[field], style=style)
    return then(r, negation, said) if r.random() < 0.7 else then(r, said, negation)


def _greeted(f, r, said: Text) -> Text:
    greeting = act(f, "greetings", r)
    return fill("{a} {b}", a=greeting, b=decap(said) if greeting.plain.endswith(",") else said)


def _negation_polite(f, r, s, u):
    """A negation that is the whole point of the message: greeted, or thanks/small talk/closing after."""
    negation = act(f, r.choice(tuple(_NEGATES)), r)
    after = r.choice(("greetings", "greetings", "unrelated", "unrelated", "done"))
    return _greeted(f, r, negation) if after == "greetings" else then(r, negation, act(f, after, r))


def _identity(f, r, s, u, forgot: bool = True):
    pick = r.choice(("email", "name_zip", "forgot") if forgot else ("email", "name_zip"))
    if pick == "email":
        return act(f, "email", r, email=tagged(u["email"], "_email"))
    if pick == "name_zip":
        return act(f, "name_zip", r, **names(r, u), zip=tagged(u["address"]["zip"], "zip"))
    return act(f, "forgot", r, thing=r.choice(_FORGOTTEN))


def _identity_request(f, r, s, u):
    who, what = _identity(f, r, s, u, forgot=False), request(f, r, s, u)
    a, b = (who, what) if r.random() < 0.7 else (what, who)
    return fill("{a}{sep}{b}", a=a, sep=" " if ends_sentence(a) else r.choice((" ", ". ", ", ", " - ")), b=b)


def _opening(f, r, s, u):
    vague = act(f, "vague", r)
    return vague if r.random() < 0.5 else fill("{a} {b}", a=act(f, "greetings", r), b=vague)


def _change_mind(f, r, s, u):
    for candidate in [u] + [r.choice(s.users) for _ in range(50)]:
        for said in r.sample(s.orders(candidate), k=len(s.orders(candidate))):
            if found := swaps(s, r, said):
                return act(f, "change_mind", r, change=change(f, r, *found[0]))
    raise ReaderDataError("no training user has an item with another variant", hint="check the db's products")


def _cancel_reason(f, r, s, u):
    cancel = request_field(f, r, s, u, "cancel")
    how = r.randrange(4)
    if how == 0:
        return _greeted(f, r, cancel)
    if how == 1:
        return joined(f, r, cancel, request(f, r, s, u, exclude=("cancel",)))
    if how == 2:  # the next request of a conversation: "Thank you. I have one more request: ..."
        return act(f, r.choice(("next", "state", "restate")), r, r=cancel)
    return cancel


_OPENED_STYLES = {"full": 1, "bare": 2, "loose": 1}  # after an opener, a request is said briefly more often


def _opened(f, r, s, u, opener: Family | None = None):
    """Another request's opener (``next``: "oh and while ur at it {r}") from ``opener`` (any training family,
    so openers and requests are learned apart) before a request of ``f`` (``_OPENED_STYLES``), or, 20%,
    before thanks or a closing (no request)."""
    opener = opener or f
    if r.random() < 0.2:
        return act(opener, "next", r, r=act(f, r.choice(("done", "unrelated")), r))
    style = r.choices(list(_OPENED_STYLES), list(_OPENED_STYLES.values()))[0]
    said = request(f, r, s, u, style=style)
    return act(opener, "next", r, r=decap(said) if r.random() < 0.5 else said)


def _answer_value(f, r, s, u) -> Text:
    """A value a customer gives when asked for it: a payment method (act ``method_value``), an order
    (``order_with``/``order_id``), or items of an order (``items_value``)."""
    orders = s.orders(u)
    pick = r.choice(("payment", "order", "items")) if orders else "payment"
    if pick == "payment":
        return fill("{p}{m}", "method_value", p=r.choice(("", "my ", "the ")), m=_method(f, r, s, u))
    said = r.choice(orders)
    if pick == "order":
        return order(f, r, s, u, said)
    items = sorted({i["item_id"]: i for i in said["items"]}.values(), key=lambda i: i["item_id"])
    return fill("{i}", "items_value", i=_join([describe_item(said, i) for i in r.sample(items, k=min(len(items), r.choice((1, 2))))]))


def _stated_answer(f, r, s, u):
    """An answer to the agent's question, no request: one or two values (``_answer_value``), said after the
    family's ``state`` phrase ("My request is this: my gift card", 70%) or alone."""
    said = _answer_value(f, r, s, u)
    if r.random() < 0.3:
        said = then(r, said, _answer_value(f, r, s, u))
    return act(f, "state", r, r=said) if r.random() < 0.7 else said


# Messages that neither approve, refuse nor ask anything (thanks, small talk, a closing, a greeting):
# their answer is "neutral", so the reader tells a thank-you after a yes from a second thought after it.
_NEUTRAL = {"unrelated", "done", "wait", "greetings"}


def _method(f, r, s, u) -> str:
    """One of this user's payment methods as a customer names it (another training user's when none)."""
    for candidate in [u] + [r.choice(s.users) for _ in range(50)]:
        if found := methods(candidate):
            return r.choice(found)
    raise ReaderDataError("no training user has a payment method", hint="check the db's users")


def _preference(f, r, s, u):
    """A lasting payment preference: alone, greeted, after the identity, with thanks, or beside a request."""
    said = act(f, "prefer_payment", r, method=_method(f, r, s, u))
    how = r.randrange(6)
    if how == 0:
        return _greeted(f, r, said)
    if how == 1:
        return then(r, _identity(f, r, s, u, forgot=False), said)
    if how == 2:
        return then(r, said, act(f, r.choice(("done", "unrelated")), r))
    if how == 3:
        first, second = (said, request(f, r, s, u)) if r.random() < 0.5 else (request(f, r, s, u), said)
        return then(r, first, second)
    return said


def _mention(f, r, s, u):
    """A payment method mentioned with no lasting preference (``mention_payment``, or ``not_prefer_payment``:
    negated, undecided, asked, only once), when the family words it: alone, greeted or after the identity."""
    field = "not_prefer_payment" if f.has("not_prefer_payment") and r.random() < 0.6 else "mention_payment"
    said = act(f, field, r, method=_method(f, r, s, u))
    how = r.randrange(4)
    if how == 0:
        return _greeted(f, r, said)
    if how == 1:
        return then(r, _identity(f, r, s, u, forgot=False), said)
    return said


KINDS: dict[str, tuple[int, Builder]] = {
    "request": (24, lambda f, r, s, u: request(f, r, s, u, style="full")),
    "bare": (8, lambda f, r, s, u: request(f, r, s, u, style="bare")),
    "loose": (4, lambda f, r, s, u: request(f, r, s, u, style="loose")), "multi": (12, _multi),
    "wrapped": (9, lambda f, r, s, u: act(f, r.choice(("next", "state", "restate")), r, r=request(f, r, s, u))),
    "negated": (10, _negated), "negation": (3, lambda f, r, s, u: act(f, r.choice(tuple(_NEGATES)), r)),
    "negation_polite": (4, _negation_polite), "identity": (8, _identity), "identity_request": (5, _identity_request),
    "yes": (8, field_builder("yes")), "no": (7, field_builder("no")), "unsure": (5, field_builder("unsure")),
    "unrelated": (6, field_builder("unrelated")), "change_mind": (2, _change_mind), "opening": (5, _opening),
    "done": (4, field_builder("done")), "wait": (2, field_builder("wait")),
    "greeting_request": (4, lambda f, r, s, u: _greeted(f, r, request(f, r, s, u))),
    "where": (3, lambda f, r, s, u: where(f, r, s)),
    "cancel_reason": (12, _cancel_reason), "reason": (3, lambda f, r, s, u: act(f, r.choice(tuple(REASONS)), r)),
    "preference": (5, _preference), "mention": (5, _mention),
    "yes_restated": (3, field_builder("yes_restated")), "resembles_yes": (5, field_builder("resembles_yes")),
    "opened": (10, _opened), "stated_answer": (6, _stated_answer),
}
_ACROSS_FAMILIES = {"opened"}  # kinds whose builder also takes a second family (``opener``), drawn from all
# Kinds that need an optional wording field: a family without it draws another kind.
_NEEDS = {"preference": "prefer_payment", "mention": "mention_payment", "yes_restated": "yes_restated",
          "resembles_yes": "resembles_yes"}
_YES, _NO = (["yes"], ["yes_restated"]), (["no"],)  # the acts that are, alone, a clear yes / no
REMEMBER = {"prefer_payment": "payment_method"}  # act -> the memory label of choice ``remember``

# ---- examples --------------------------------------------------------------------------------------

def _example(store: Store, families: list[Family], seed: int, i: int) -> dict[str, Any]:
    rng = random.Random(f"reader:{seed}:{i}")
    family = families[i % len(families)]
    kinds = [k for k in KINDS if k not in _NEEDS or family.has(_NEEDS[k])]
    kind = rng.choices(kinds, [KINDS[k][0] for k in kinds])[0]
    build, user = KINDS[kind][1], rng.choice(store.users)
    said = (build(family, rng, store, user, opener=rng.choice(families)) if kind in _ACROSS_FAMILIES
            else build(family, rng, store, user))
    segs, noise = roughen(said.segments, rng)
    text, spans = flatten(segs)
    acts = list(said.acts)
    answer = ("yes" if acts in _YES else "no" if acts in _NO
              else "neutral" if set(acts) <= _NEUTRAL else "other")
    return {"text": text, "requests": sorted(set(request_classes(said))), "answer": answer, "spans": spans,
            "choices": {"reason": next((REASONS[a] for a in acts if a in REASONS), "none"),
                        "remember": next((REMEMBER[a] for a in acts if a in REMEMBER), "none")},
            "family": family.name, "kind": kind, "acts": acts, "noise": noise}


def _store(db: dict[str, Any], evaluation: bool = False) -> Store:
    train, held = user_split(db, seed=0, eval_fraction=0.3)
    return Store(db, [db["users"][u] for u in (held if evaluation else train)])


def _refuse_heldout(families: list[Family]) -> None:
    if not families:
        raise ReaderDataError("no wording family given", hint=f"use some of {', '.join(training_families())}")
    for family in families:
        if family.heldout:
            raise ReaderDataError(f"wording family {family.name!r} is held out (heldout: true): it must never be "
                                  "used for training", hint=f"use training families only: {', '.join(training_families())}")


def _iter_examples(db: dict[str, Any], families: list[Family], n: int, seed: int,
                   evaluation: bool = False) -> Iterator[dict[str, Any]]:
    if not evaluation:
        _refuse_heldout(families)
    store = _store(db, evaluation)
    return (_example(store, families, seed, i) for i in range(n))


def generate_reader_examples(db: dict, families: list[Family], n: int, seed: int = 0) -> list[dict]:
    """``n`` labelled messages (see the module docstring), the same for the same db, families and seed."""
    return list(_iter_examples(db, families, n, seed))


def write_reader_data(db_path: str | Path, out_dir: str | Path, n: int, seed: int = 0,
                      families: list[str] | None = None, progress: bool = True,
                      evaluation: bool = False) -> dict[str, Any]:
    """Write ``OUT/reader.jsonl`` and ``OUT/reader_meta.json`` (counts, families); return the meta.

    ``families``: names or YAML paths (default: every packaged training family). ``evaluation``: a test
    set, never training data: held-out families are allowed and the values come from the held-out users.
    """
    from rich.progress import track

    path = Path(db_path)
    if not path.is_file():
        raise ReaderDataError(f"no db at {path}", hint="pass the tau2 retail db.json (../shared/data/tau2-retail/db.json)")
    db = json.loads(path.read_text(encoding="utf-8"))
    loaded = [load_family(name) for name in (families or training_families())]
    if not evaluation:
        _refuse_heldout(loaded)  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter] = {k: Counter() for k in (
        "requests", "answers", "tags", "per_family", "reasons", "remember", "noise", "requests_per_message",
        "request_styles")}
    start = time.perf_counter()
    with (out / "reader.jsonl").open("w", encoding="utf-8") as fh:
        examples = _iter_examples(db, loaded, n, seed, evaluation)
        for ex in track(examples, total=n, description="reader examples", disable=not progress or n < 2000):
            fh.write(json.dumps(ex, ensure_ascii=False) + "\n")
            counts["requests"].update(ex["requests"] or ["none"])
            counts["requests_per_message"][str(len(ex["requests"]))] += 1
            counts["answers"][ex["answer"]] += 1
            counts["tags"].update(tag for _, _, tag in ex["spans"])
            counts["per_family"][ex["family"]] += 1
            counts["reasons"][ex["choices"]["reason"]] += 1
            counts["remember"][ex["choices"]["remember"]] += 1
            counts["noise"].update(ex["noise"] or ["none"])
            counts["request_styles"].update(a.split("_")[0] if a.startswith(("bare_", "loose_")) else "full"
                                            for a in ex["acts"] if a in REQUEST_CLASS)
    meta = {"n": n, "seed": seed, "families": [f.name for f in loaded], "db": str(path), "evaluation": evaluation,
            "seconds": round(time.perf_counter() - start, 2),
            **{k: dict(sorted(c.items())) for k, c in counts.items()}}
    (out / "reader_meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta
