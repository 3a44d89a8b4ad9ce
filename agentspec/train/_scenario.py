"""Scenarios of synthetic dialogues: who calls, what they want, the gold plan, the mutations, the noise.

Contract: ``build_scenario(index, seed, db, train_users, noise_rate)`` returns a ``Scenario`` for
dialogue ``index``, from its own ``random.Random(f"train-data:{seed}:{index}")``: the same (seed,
index) always gives the same scenario, in any process, in any order, on any resume.

A scenario holds:
- ``task``: an evals ``Task`` whose ``user_scenario`` the evals ``ScriptedUser`` plays (phrasing,
  identity and requests come from the suite generator's own builders, so the user simulator parses
  them exactly as in evaluation);
- ``plan``: what the rule-based teacher needs, per intent (``IntentPlan``): the order, whether the
  user knows its id, the reads, the write, the write after a change of mind, facts to tell;
- ``gold``: the calls whose replay on a fresh store gives the goal state;
- ``mutations`` (Evol-Instruct style; applied by ``_mutate`` on the user side): ``paraphrase``,
  ``typos``, ``context``, ``change_mind`` (the user swaps the item option before confirming),
  ``three_intents``;
- ``noise``: None or one plausible teacher mistake (``NOISE_KINDS``) that verification must catch.

Users come only from ``train_users``: a user outside it is our bug and raises. Not here: running the
dialogue (``data``), the teacher's step choice (``_teacher``), checking the result (``verify``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from agentspec.evals._builders import INTENT_BUILDERS, Draft, Intent, build_forbidden, build_transfer
from agentspec.evals.generate import _task  # the suite's own scenario writer: ScriptedUser parses it
from agentspec.evals.tasks import Task

__all__ = ["CATEGORY_WEIGHTS", "IntentPlan", "NOISE_KINDS", "Scenario", "build_scenario", "intent_kind"]

Call = tuple[str, dict[str, Any]]

# Single intents dominate (they are the building blocks); multi-intent, forbidden and transfer
# dialogues teach sequencing, refusals and hand-offs.
CATEGORY_WEIGHTS: dict[str, float] = {
    "cancel": 1.0, "modify_address": 1.0, "modify_payment": 1.0, "modify_items": 1.2, "return": 1.2,
    "exchange": 1.2, "multi_intent": 1.5, "forbidden": 1.0, "transfer": 0.6,
}
NOISE_KINDS = ("wrong_item", "wrong_order", "hallucinated_id", "skipped_confirmation", "omitted_info",
               "unverified_identity", "write_before_auth")
_WRITE_KIND = {
    "cancel_pending_order": "cancel", "modify_pending_order_address": "modify_address",
    "modify_pending_order_payment": "modify_payment", "modify_pending_order_items": "modify_items",
    "return_delivered_order_items": "return", "exchange_delivered_order_items": "exchange",
}
_ITEM_TOOLS = ("modify_pending_order_items", "exchange_delivered_order_items")


@dataclass
class IntentPlan:
    kind: str  # cancel | modify_address | ... | forbidden | transfer
    request: str
    order_id: str | None = None
    order_known: bool = True
    reads: list[Call] = field(default_factory=list)  # after the order lookup (product details)
    write: Call | None = None
    changed_write: Call | None = None  # change_mind: what the user asks for instead of ``write``
    change_text: str = ""  # the options phrase the user names when changing their mind
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


def _options(options: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


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


def _change_mind(db: dict[str, Any], plan: IntentPlan, rng: random.Random) -> bool:
    """Give an items intent a second variant the user switches to before confirming."""
    if plan.write is None or plan.write[0] not in _ITEM_TOOLS:
        return False
    name, args = plan.write
    old, first = args["item_ids"][0], args["new_item_ids"][0]
    product = next(p for p in db["products"].values() if old in p["variants"])
    choices = [v for vid, v in sorted(product["variants"].items())
               if v["available"] and vid not in (old, first)
               and _affordable(db, (name, {**args, "new_item_ids": [vid]}))]
    if not choices:
        return False
    second = rng.choice(choices)
    plan.changed_write = (name, {**args, "new_item_ids": [second["item_id"]]})
    plan.change_text = _options(second["options"])
    return True


def _draft(category: str, db: dict[str, Any], user: dict[str, Any], rng: random.Random,
           peers: list[dict[str, Any]], three: bool) -> Draft | None:
    if category in INTENT_BUILDERS:
        intent = INTENT_BUILDERS[category](db, user, rng)
        return None if intent is None else Draft([intent], f"The user wants to {category.replace('_', ' ')}.")
    if category == "multi_intent":
        kinds = rng.sample(sorted(INTENT_BUILDERS), 3 if three else 2)
        intents = [INTENT_BUILDERS[k](db, user, rng) for k in kinds]
        if any(i is None for i in intents):
            return None
        orders = [o for i in intents for o in i.order_ids]  # type: ignore[union-attr]
        if len(set(orders)) != len(orders):
            return None  # one request per order: a second write on the same order may be refused
        return Draft(intents, f"Requests from one user: {', '.join(kinds)}.")  # type: ignore[arg-type]
    if category == "forbidden":
        return build_forbidden(db, user, rng, peers)
    return build_transfer(db, user, rng, peers)


def _noise_options(plan: list[IntentPlan], user: dict[str, Any]) -> list[str]:
    writes = [p for p in plan if p.write and p.write[0] in _WRITE_KIND]
    out = ["unverified_identity", "write_before_auth"] if writes else ["unverified_identity"]
    if writes:
        out += ["hallucinated_id", "skipped_confirmation"]
        if len(user["orders"]) > 1:
            out.append("wrong_order")
    if any(p.write and p.write[0] in _ITEM_TOOLS for p in plan):
        out.append("wrong_item")
    if any(p.communicate and p.write for p in plan):  # a refusal always states its fact
        out.append("omitted_info")
    return out


def build_scenario(index: int, seed: int, db: dict[str, Any], train_users: list[str],
                   noise_rate: float = 0.0, max_tries: int = 200) -> Scenario:
    """The scenario of dialogue ``index`` (see the module docstring)."""
    rng = random.Random(f"train-data:{seed}:{index}")
    categories = list(CATEGORY_WEIGHTS)
    category = rng.choices(categories, weights=[CATEGORY_WEIGHTS[c] for c in categories])[0]
    three = category == "multi_intent" and rng.random() < 0.25
    allowed = set(train_users)
    for _ in range(max_tries):
        user_id = rng.choice(train_users)
        user = db["users"][user_id]
        # "Another user" of a forbidden request is also a training user: eval users never appear.
        peers = [db["users"][u] for u in rng.sample(train_users, min(30, len(train_users))) if u != user_id]
        draft = _draft(category, db, user, rng, peers, three)
        if draft is None or not all(_affordable(db, _plan(i, category).write) for i in draft.intents):
            continue
        break
    else:
        raise RuntimeError(f"no training user fits category {category!r} after {max_tries} tries")
    assert user_id in allowed and all(p["user_id"] in allowed for p in peers)
    task = _task(f"train-{index}", category, user, draft, rng)
    plan = [_plan(intent, intent_kind(intent, category)) for intent in draft.intents]
    mutations = [m for m, p in (("paraphrase", 0.7), ("typos", 0.25), ("context", 0.35)) if rng.random() < p]
    if three:
        mutations.append("three_intents")
    for p in plan:
        if rng.random() < 0.35 and _change_mind(db, p, rng):
            mutations.append("change_mind")
            break
    noise = None
    if rng.random() < noise_rate:
        noise = rng.choice(_noise_options(plan, user))
    action = task.evaluation_criteria.actions[0]
    lookup = (action.name, dict(action.arguments))
    gold: list[Call] = [lookup, ("get_user_details", {"user_id": user_id})]
    for p in plan:
        write = p.changed_write or p.write
        if write is not None:
            gold.append(write)
    return Scenario(index, category, user_id, task, plan, lookup, gold, mutations, noise,
                    forbidden=category == "forbidden")
