"""Scenarios of synthetic dialogues: who calls, in whose words, what they want, the gold, the twists, the noise.

Contract: ``build_scenario(index, seed, db, train_users, noise_rate, families=...)`` returns a
``Scenario`` for dialogue ``index``, from its own ``random.Random(f"train-data:{seed}:{index}")``:
the same (seed, index, families) always gives the same scenario, in any process, in any order, on
any resume.

A scenario holds:
- ``task``: an evals ``Task`` whose ``user_scenario`` the evals ``ScriptedUser`` plays. Its requests
  are said in the sentences of a wording family drawn for the dialogue (``wording``; the builders of
  ``evals._worded`` over ``family_wording``), or, in ``STANDARD_SHARE`` of the dialogues, by the
  suite's standard builders (``evals._builders``) so that wording stays in the data too. A family
  dialogue opens with a family's greeting, or sometimes with the family's vague opening (the request
  comes when the agent asks for it). Families come only from ``families`` (default: every
  ``training_families()``); a held-out one is refused (``WordingError``);
- ``reply_families``: the families the user's replies are drawn from, one drawn per reply, so one
  conversation mixes independent authors (every allowed family); empty for the scripted user's plain
  phrasing (half of the standard dialogues);
- ``plan``: what the rule-based teacher needs, per intent (``IntentPlan``): the order, whether the
  user knows its id, the reads, the write, the write after a change of mind, whether the user
  declines it, facts to tell;
- ``twists`` (``evals._multi``'s, written into the task's instruction lines, which ``ScriptedUser``
  plays): ``change_mind``, an item swap the user changes to another variant at its confirmation (the
  gold is the changed write); ``decline``, a cancel, address or payment change the user turns down at
  its confirmation (no write; that request is over, the others are done). ``CATEGORY_WEIGHTS`` give
  two or three requests to about 30 % of the dialogues;
- ``mutations``: how the user side says things (``_mutate``): ``typos``, ``lowercase``,
  ``no_punctuation``, ``identity_first`` (identity given in the opening, before it is asked),
  ``small_talk``, ``paraphrase`` (plain replies only); and ``vague``, ``three_intents`` and the twists;
- ``gold``: the calls whose replay on a fresh store gives the goal state;
- ``noise``: None or one plausible teacher mistake (``NOISE_KINDS``) that verification must catch.

Users come only from ``train_users``: a user outside it is our bug and raises. This module never
touches the held-out evaluation wordings (it imports ``evals._worded``/``_multi``/``_builders`` only).
Not here: running the dialogue (``data``), the teacher's step choice (``_teacher``), the wording of
the user's messages (``_mutate``), checking the result (``verify``).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from agentspec.evals._builders import INTENT_BUILDERS, Draft, Intent, build_forbidden, build_transfer
from agentspec.evals._multi import CHANGE, DECLINE, other_intents
from agentspec.evals._worded import (Wording, describe_change, family_wording, intent_builders, vague_opening,
                                     worded_forbidden, worded_transfer)
from agentspec.evals.generate import _task  # the suite's own scenario writer: ScriptedUser parses it
from agentspec.evals.tasks import Task
from agentspec.evals.wording import Family, WordingError, load_family, training_families

__all__ = ["CATEGORY_WEIGHTS", "IntentPlan", "NOISE_KINDS", "STANDARD_SHARE", "Scenario", "allowed_families",
           "build_scenario", "intent_kind"]

Call = tuple[str, dict[str, Any]]
Builder = Callable[[Any, Any, random.Random], Intent | None]

# Single intents are the building blocks; about 30 % of the dialogues make two or three requests;
# forbidden and transfer dialogues teach refusals and hand-offs.
CATEGORY_WEIGHTS: dict[str, float] = {
    "cancel": 1.0, "modify_address": 1.0, "modify_payment": 1.0, "modify_items": 1.2, "return": 1.2,
    "exchange": 1.2, "multi_intent": 3.5, "forbidden": 1.0, "transfer": 0.6,
}
STANDARD_SHARE = 0.2  # dialogues whose requests use the standard builders' wording
NOISE_KINDS = ("wrong_item", "wrong_order", "hallucinated_id", "skipped_confirmation", "omitted_info",
               "unverified_identity", "write_before_auth")
_USER_NOISE = (("typos", 0.3), ("lowercase", 0.25), ("no_punctuation", 0.25), ("identity_first", 0.2),
               ("small_talk", 0.25))
_THREE = 1 / 3  # of the multi-request dialogues
_VAGUE = 0.15  # of the family dialogues
_CHANGE = 0.35  # of the dialogues with a one-item swap
_DECLINE = {1: 0.1, 2: 0.3, 3: 0.3}  # of the dialogues with a declinable request, by number of requests
_DECLINABLE = ("cancel", "modify_address", "modify_payment")
_WRITE_KIND = {
    "cancel_pending_order": "cancel", "modify_pending_order_address": "modify_address",
    "modify_pending_order_payment": "modify_payment", "modify_pending_order_items": "modify_items",
    "return_delivered_order_items": "return", "exchange_delivered_order_items": "exchange",
}
_ITEM_TOOLS = ("modify_pending_order_items", "exchange_delivered_order_items")
# The standard forbidden requests (``_builders.build_forbidden``) by what the policy forbids.
_REFUSALS = (("Can you tell me the status", "cancel"), ("Please change the shipping address", "modify"),
             ("I want to return", "return"))


@dataclass
class IntentPlan:
    kind: str  # cancel | modify_address | ... | forbidden | transfer
    request: str
    order_id: str | None = None
    order_known: bool = True
    reads: list[Call] = field(default_factory=list)  # after the order lookup (product details)
    write: Call | None = None
    changed_write: Call | None = None  # change_mind: what the user asks for instead of ``write``
    change_text: str = ""  # how the user names the other variant when changing their mind ("in grey")
    declined: bool = False  # decline: the user turns ``write`` down at its confirmation
    refusal: str = ""  # forbidden: what the policy forbids here (cancel | modify | return | foreign)
    communicate: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    index: int
    category: str
    user_id: str
    task: Task
    plan: list[IntentPlan]
    lookup: Call
    gold: list[Call]
    mutations: list[str]
    noise: str | None
    forbidden: bool
    wording: str = "standard"  # the family the requests are said in, or "standard"
    reply_families: list[Family] = field(default_factory=list)  # empty: the plain scripted phrasing
    twists: list[str] = field(default_factory=list)
    vague: bool = False  # the opening asks for nothing yet


@lru_cache(maxsize=None)
def _load(name: str) -> Family:
    return load_family(name)


@lru_cache(maxsize=1)
def _training_names() -> tuple[str, ...]:
    return tuple(training_families())  # loads every packaged family: once per process


def allowed_families(names: Sequence[str] | None = None) -> list[Family]:
    """The wording families training may use: ``names`` (packaged names or YAML paths), default every
    ``training_families()``. A held-out family is a ``WordingError``: its text must never be trained on."""
    families = [_load(str(n)) for n in (_training_names() if names is None else names)]
    held = [f.name for f in families if f.heldout]
    if held:
        raise WordingError(f"wording famil{'ies' if len(held) > 1 else 'y'} {', '.join(held)} held out of training",
                           hint=f"use training families only: {', '.join(training_families())}")
    if not families:
        raise WordingError("no wording family to draw from", hint="pass at least one training family")
    return families


def intent_kind(intent: Intent, category: str) -> str:
    names = [name for name, _ in intent.calls]
    if "transfer_to_human_agents" in names:
        return "transfer"
    for name in names:
        if name in _WRITE_KIND:
            return _WRITE_KIND[name]
    return "forbidden" if category == "forbidden" else category


def _plan(intent: Intent, kind: str) -> IntentPlan:
    write = next(((n, a) for n, a in intent.calls if n in _WRITE_KIND or n == "transfer_to_human_agents"), None)
    reads = [(n, a) for n, a in intent.calls if n == "get_product_details"]
    order = intent.order_ids[0] if intent.order_ids else None
    return IntentPlan(kind, intent.request, order, intent.order_known, reads, write,
                      communicate=list(intent.communicate_info))


def _affordable(db: dict[str, Any], write: Call | None) -> bool:
    """False for an item swap whose price difference a gift card cannot pay: the tool would refuse it,
    and the graph refuses to even state a write its dry run fails (``RetailStore.check``)."""
    if write is None or write[0] not in _ITEM_TOOLS:
        return True
    args = write[1]
    order = db["orders"][args["order_id"]]
    prices = {item["item_id"]: item["price"] for item in order["items"]}
    variants = {vid: v for p in db["products"].values() for vid, v in p["variants"].items()}
    difference = sum(variants[i]["price"] for i in args["new_item_ids"]) - sum(prices[i] for i in args["item_ids"])
    user = db["users"][order["user_id"]]
    method = user["payment_methods"].get(args["payment_method_id"], {})
    return method.get("source") != "gift_card" or method.get("balance", 0) >= difference


# ---- requests ---------------------------------------------------------------------------------------

def _several(builders: dict[str, Builder], db: dict[str, Any], user: dict[str, Any], rng: random.Random,
             count: int) -> list[Intent] | None:
    """``count`` intents of different categories, one per order (a second write on one order may be refused)."""
    return other_intents(builders, db, user, rng, count, set())


def _forbidden(db: dict[str, Any], user: dict[str, Any], rng: random.Random, peers: list[dict[str, Any]],
               wording: Wording | None) -> tuple[Draft, str] | None:
    """A forbidden request (standard or worded) and what the policy forbids in it. The worded one is the
    standard case said anew (``worded_forbidden`` draws the same case from the same rng state)."""
    state = rng.getstate()
    plain = build_forbidden(db, user, rng, peers)
    if plain is None:
        return None
    request = plain.intents[0].request
    refusal = next((kind for prefix, kind in _REFUSALS if request.startswith(prefix)), "foreign")
    if wording is None:
        return plain, refusal
    rng.setstate(state)
    worded = worded_forbidden(db, user, rng, peers, wording)
    return (worded, refusal) if worded is not None else None


def _draft(category: str, db: dict[str, Any], user: dict[str, Any], rng: random.Random,
           peers: list[dict[str, Any]], wording: Wording | None, count: int) -> tuple[Draft, str] | None:
    """(draft, refusal kind) of ``category``, worded by ``wording`` (None: the standard builders)."""
    builders = INTENT_BUILDERS if wording is None else intent_builders(wording)
    if category in builders:
        intent = builders[category](db, user, rng)
        return None if intent is None else (Draft([intent], f"The user wants to {category.replace('_', ' ')}."), "")
    if category == "multi_intent":
        intents = _several(builders, db, user, rng, count)
        return None if intents is None else (Draft(intents, f"{count} requests, one after the other."), "")
    if category == "forbidden":
        return _forbidden(db, user, rng, peers, wording)
    draft = build_transfer(db, user, rng, peers) if wording is None else worded_transfer(db, user, rng, peers, wording)
    return None if draft is None else (draft, "")


# ---- twists -----------------------------------------------------------------------------------------

def _change_mind(db: dict[str, Any], plan: IntentPlan, intent: Intent, rng: random.Random, wording: Wording) -> bool:
    """Give a one-item swap a second variant the user switches to at its confirmation."""
    name, args = plan.write  # type: ignore[misc]
    old, first = args["item_ids"][0], args["new_item_ids"][0]
    item = next(i for i in db["orders"][args["order_id"]]["items"] if i["item_id"] == old)
    variants = db["products"][item["product_id"]]["variants"]
    choices = [v for vid, v in sorted(variants.items())
               if v["available"] and vid not in (old, first)
               and _affordable(db, (name, {**args, "new_item_ids": [vid]}))]
    if not choices:
        return False
    second = rng.choice(choices)
    plan.changed_write = (name, {**args, "new_item_ids": [second["item_id"]]})
    # Said against the variant first asked for as well as the old item: each option's last value said
    # counts ("in canister and bagged" ... "actually the robotic one"), so every option where the
    # second variant differs from either is said again.
    kept = {k: v for k, v in item["options"].items()
            if variants[first]["options"].get(k) == v and second["options"].get(k) == v}
    plan.change_text = describe_change({**item, "options": kept}, second, rng, wording)
    intent.at_confirmation = CHANGE.format(change=plan.change_text)
    return True


def _twists(db: dict[str, Any], plans: list[IntentPlan], intents: list[Intent], rng: random.Random,
            wording: Wording) -> list[str]:
    """At most one change of mind and one decline, on different requests (module docstring)."""
    out = []
    swaps = [i for i, p in enumerate(plans)
             if p.write and p.write[0] in _ITEM_TOOLS and len(p.write[1]["item_ids"]) == 1]
    if swaps and rng.random() < _CHANGE:
        i = rng.choice(swaps)
        if _change_mind(db, plans[i], intents[i], rng, wording):
            out.append("change_mind")
    declinable = [i for i, p in enumerate(plans) if p.kind in _DECLINABLE and p.changed_write is None]
    if declinable and rng.random() < _DECLINE[min(3, len(plans))]:
        i = rng.choice(declinable)
        plans[i].declined, plans[i].communicate = True, []
        intents[i].at_confirmation = DECLINE
        out.append("decline")
    return out


def _noise_options(plan: list[IntentPlan], user: dict[str, Any]) -> list[str]:
    writes = [p for p in plan if p.write and p.write[0] in _WRITE_KIND and not p.declined]
    out = ["unverified_identity", "write_before_auth"] if writes else ["unverified_identity"]
    if writes:
        out += ["hallucinated_id", "skipped_confirmation"]
        if len(user["orders"]) > 1:
            out.append("wrong_order")
    if any(p.write and p.write[0] in _ITEM_TOOLS for p in writes):
        out.append("wrong_item")
    if any(p.communicate and p.write for p in writes):  # a refusal always states its fact
        out.append("omitted_info")
    return out


# ---- the scenario -----------------------------------------------------------------------------------

def _opening(task: Task, request: str, rng: random.Random, wording: Wording, families: list[Family],
             vague: bool) -> None:
    """A family dialogue's opening: the family's vague opening, or a family's greeting (or none) and the
    first request (the standard ``_task`` opening is the standard builders')."""
    instructions = task.user_scenario.instructions
    assert not isinstance(instructions, str)
    if vague:
        instructions.reason_for_call = vague_opening(rng, wording)
        return
    greeting = rng.choice((*rng.choice(families)["greetings"], "", ""))
    instructions.reason_for_call = f"{greeting} {request}" if greeting else request


def build_scenario(index: int, seed: int, db: dict[str, Any], train_users: list[str],
                   noise_rate: float = 0.0, max_tries: int = 200,
                   families: Sequence[Family] | None = None) -> Scenario:
    """The scenario of dialogue ``index`` (see the module docstring); ``families``: the wording families
    to draw from (default: every training family)."""
    allowed = list(families) if families is not None else allowed_families()
    if any(f.heldout for f in allowed):
        raise WordingError(f"held-out wording families passed to training: {[f.name for f in allowed if f.heldout]}",
                           hint="use allowed_families() to choose them")
    rng = random.Random(f"train-data:{seed}:{index}")
    categories = list(CATEGORY_WEIGHTS)
    category = rng.choices(categories, weights=[CATEGORY_WEIGHTS[c] for c in categories])[0]
    count = (3 if rng.random() < _THREE else 2) if category == "multi_intent" else 1
    family = rng.choice(allowed)
    standard = rng.random() < STANDARD_SHARE
    wording = family_wording(family)  # also says the other variant of a change of mind
    allowed_users = set(train_users)
    for _ in range(max_tries):
        user_id = rng.choice(train_users)
        user = db["users"][user_id]
        # "Another user" of a forbidden request is also a training user: eval users never appear.
        peers = [db["users"][u] for u in rng.sample(train_users, min(30, len(train_users))) if u != user_id]
        drafted = _draft(category, db, user, rng, peers, None if standard else wording, count)
        if drafted is None or not all(_affordable(db, _plan(i, category).write) for i in drafted[0].intents):
            continue
        break
    else:
        raise RuntimeError(f"no training user fits category {category!r} after {max_tries} tries")
    assert user_id in allowed_users and all(p["user_id"] in allowed_users for p in peers)
    draft, refusal = drafted
    intents = [replace(i) for i in draft.intents]
    plan = [_plan(intent, intent_kind(intent, category)) for intent in intents]
    for p in plan:
        p.refusal = refusal if p.kind == "forbidden" else ""
    twists = _twists(db, plan, intents, rng, wording)
    # The task's gold is what must happen: the changed write, no declined one.
    told = [replace(i, calls=[*i.calls[:-1], p.changed_write]) if p.changed_write
            else replace(i, calls=i.calls[:-1]) if p.declined else i for i, p in zip(intents, plan)]
    task = _task(f"train-{index}", category, user, Draft(told, draft.purpose), rng)
    vague = not standard and rng.random() < _VAGUE
    if not standard:
        _opening(task, intents[0].request, rng, wording, allowed, vague)
    reply_families = [] if standard and rng.random() < 0.5 else allowed
    mutations = [m for m, p in _USER_NOISE if rng.random() < p]
    if not reply_families and rng.random() < 0.7:
        mutations.append("paraphrase")
    mutations += ["vague"] * vague + ["three_intents"] * (count == 3) + twists
    noise = None
    if rng.random() < noise_rate:
        noise = rng.choice(_noise_options(plan, user))
        if noise == "unverified_identity" and "identity_first" in mutations:
            mutations.remove("identity_first")  # identity given up front: an early lookup is no mistake
    action = task.evaluation_criteria.actions[0]
    lookup = (action.name, dict(action.arguments))
    gold: list[Call] = [lookup, ("get_user_details", {"user_id": user_id})]
    for p in plan:
        write = p.changed_write or p.write
        if write is not None and not p.declined:
            gold.append(write)
    return Scenario(index, category, user_id, task, plan, lookup, gold, mutations, noise,
                    forbidden=category == "forbidden", wording="standard" if standard else family.name,
                    reply_families=reply_families, twists=twists, vague=vague)
