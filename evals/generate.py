"""Generate a tau2-format retail task suite from a ``db.json``, with gold actions proven by execution.

``generate_suite(db_path, out_dir, n, seed=0, eval_fraction=0.3)`` writes into ``out_dir``:

- ``tasks.json``: ``n`` tasks (ids "0".."n-1") whose categories cycle through ``CATEGORIES`` (balanced:
  counts differ by at most one). Categories: cancel, modify_address, modify_payment, modify_items,
  return, exchange (one intent each), multi_intent (two of those for one user, on two orders),
  forbidden (the policy forbids it: a non-pending order to cancel, a cancelled order to modify, a
  pending order to return, another user's order; the gold has no write), transfer (only a human can
  help: the gold ends with ``transfer_to_human_agents``). ``categories=`` (``--categories``) cycles through
  the ones named instead, among them ``EXTRA_CATEGORIES``, made only when named: account_address (the
  account's default address, ``modify_user_address``; no order is touched).
- ``user_split.json``: ``{"train_users": [...], "eval_users": [...]}`` over *every* user of the db: a
  seeded shuffle puts ``round(eval_fraction * n_users)`` users in eval. Training pipelines read it so
  no eval user appears in training data.
- ``split_tasks.json``: ``{"train": [ids], "test": [ids]}``: a task is "test" iff its user is an eval
  user. About ``eval_fraction`` of the tasks draw their user from the eval users (spread evenly).

Gold actions follow tau2: the identity lookup (``find_user_id_by_email`` or
``find_user_id_by_name_zip``), ``get_user_details``, the reads each intent needs (order, product
details), then the write. Every candidate is executed on a fresh copy of the store; a call whose
observation starts with "Error:" (or a lookup that finds another user) rejects the candidate and the
next user is tried. ``communicate_info`` holds the facts a question asks for (a refund total, an order
status), else it is empty.

The user scenario is written for ``agentspec.evals.users`` (see its docstring for the protocol):

- ``known_info``: "Your email is X." or "Your name is A B and your zip code is Z.", followed by
  "Your order id is #W..." / "Your order ids are #W... and #W..." for orders the user knows by id.
- ``unknown_info``: "You do not remember your email address." (name + zip users) and/or
  "You do not remember your order id." (an order referred to by its items).
- ``task_instructions``: a line, then one ``- <request>`` line per request in first person, in the
  order the user makes them, then how to behave (confirm with yes, accept a refusal or a transfer).
- ``reason_for_call``: a greeting plus the first request (and a note that more follows).
- ``piecemeal=True`` (``--piecemeal``, wording families only): each request line is the request with
  no details (the family's ``bare_*`` sentence), followed by a line listing its parts as this customer
  says them (``PIECES``: "order = my order #W1 | reason = I don't need it anymore"); the customer opens
  with the first such request and gives each part only when the agent asks for it (``users``). The
  gold, users and split are those of the same suite without it.

``style="hard"`` (``eval generate --style hard``) keeps all of the above (categories, users, split,
gold shape) and words and shapes the requests unlike the training data (``_hard``): items named by
what tells them apart, new variants by what changes, two-item swaps, returns of up to three items,
and half the tasks open with no request. The standard style's files do not change with it.
``style="fresh"``: the same, in a second set of sentences (``_hard.FRESH``) kept out of development.

The same db, ``n``, ``seed``, ``eval_fraction`` and ``style`` give byte-identical files. Not here: loading tasks
(``tasks``), running or scoring them.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.tools.retail import RetailStore

from ._builders import EXTRA_BUILDERS, INTENT_BUILDERS, PIECE_SEPARATOR, PIECES, Draft, build_forbidden, build_transfer
from ._multi import MULTI_CATEGORIES, build_multi
from ._hard import WORDINGS, Wording, family_wording, intent_builders, vague_opening, worded_forbidden, worded_transfer
from ._worded import extra_builders
from .wording import WordingError, load_family
from .tasks import Action, EvaluationCriteria, Task, UserInstructions, UserScenario, save_tasks

__all__ = ["CATEGORIES", "EXTRA_CATEGORIES", "FAMILY_STYLE", "STYLES", "style_wording", "GenerationError",
           "generate_suite", "user_split"]

CATEGORIES: tuple[str, ...] = (
    "cancel", "modify_address", "modify_payment", "modify_items", "return", "exchange",
    "multi_intent", "forbidden", "transfer",
)

# Categories a suite has only when asked for by name (``categories=``), so that suites made without them stay
# byte-identical: account_address (the account's default address, not an order's).
EXTRA_CATEGORIES: tuple[str, ...] = tuple(EXTRA_BUILDERS)

# hard: wording and shapes the training data never uses (see _hard); fresh: the same shapes in a second set
# of sentences that no development looked at.
STYLES = ("standard", "hard", "fresh")

_GREETINGS = ("Hi. ", "Hello! ", "Hey there. ", "Good morning. ", "")
_BEHAVIOUR = ("When the agent describes exactly what you asked for and asks you to confirm, say yes. "
              "If the agent refuses or transfers you to a human, accept it and end the conversation. "
              "Do not make up any information you were not given.")


class GenerationError(AgentSpecError):
    """The db cannot give the requested suite (no user fits a category, bad arguments)."""

    code = "generation"


def _load_db(db_path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(db_path)
    if not path.is_file():
        raise GenerationError(f"db file {path} does not exist",
                              hint="pass the tau2 retail db.json, e.g. ../shared/data/tau2-retail/db.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def user_split(db: dict[str, Any], seed: int, eval_fraction: float) -> tuple[list[str], list[str]]:
    """(train users, eval users), both sorted: a seeded shuffle of all users, the first part eval."""
    users = sorted(db["users"])
    random.Random(f"user-split:{seed}").shuffle(users)
    n_eval = round(eval_fraction * len(users))
    return sorted(users[n_eval:]), sorted(users[:n_eval])


def _identity(user: dict[str, Any], rng: random.Random) -> tuple[str, list[str], tuple[str, dict[str, Any]]]:
    """(known_info sentence, unknown_info sentences, the gold lookup call)."""
    if rng.random() < 0.5:
        return (f"Your email is {user['email']}.", [],
                ("find_user_id_by_email", {"email": user["email"]}))
    name, zip_code = user["name"], user["address"]["zip"]
    return (f"Your name is {name['first_name']} {name['last_name']} and your zip code is {zip_code}.",
            ["You do not remember your email address."],
            ("find_user_id_by_name_zip", {"first_name": name["first_name"], "last_name": name["last_name"],
                                          "zip": zip_code}))


FAMILY_STYLE = "family:"  # --style family:NAME: a wording family's sentences (evals/wordings/NAME.yaml)


def style_wording(style: str) -> Wording | None:
    """The sentences of a style: None for the standard builders', else hard's, fresh's or a family's."""
    if style.startswith(FAMILY_STYLE):
        return family_wording(load_family(style[len(FAMILY_STYLE):]))
    return WORDINGS.get(style)


def _draft(category: str, db: dict[str, Any], user: dict[str, Any], rng: random.Random,
           peers: list[dict[str, Any]], style: str = "standard") -> Draft | None:
    wording = style_wording(style)
    builders = INTENT_BUILDERS if wording is None else intent_builders(wording)
    if category in MULTI_CATEGORIES:
        return build_multi(category, db, user, rng, builders, wording)
    extra = EXTRA_BUILDERS if wording is None else extra_builders(wording)
    if category in builders or category in extra:
        intent = (builders.get(category) or extra[category])(db, user, rng)
        return None if intent is None else Draft([intent], f"The user wants to {category.replace('_', ' ')}.")
    if category == "multi_intent":
        first, second = rng.sample(sorted(builders), 2)
        a = builders[first](db, user, rng)
        b = builders[second](db, user, rng)
        if a is None or b is None or set(a.order_ids) & set(b.order_ids):
            return None
        return Draft([a, b], f"Two requests from one user: {first} then {second}.")
    if category == "forbidden":
        return build_forbidden(db, user, rng, peers) if wording is None else worded_forbidden(db, user, rng, peers,
                                                                                              wording)
    if category == "transfer":
        return build_transfer(db, user, rng, peers) if wording is None else worded_transfer(db, user, rng, peers,
                                                                                            wording)
    raise GenerationError(f"unknown category {category!r}", hint=f"use one of {', '.join(CATEGORIES)}")


def _lines(draft: Draft, piecemeal: bool) -> tuple[list[str], list[str]]:
    """Each request as the customer first says it, and its ``- `` line(s) of the task instructions."""
    requests, lines = [], []
    for intent in draft.intents:
        if not piecemeal or "request" not in intent.details:  # a forbidden or transfer request: said at once
            requests.append(intent.request)
            lines.append(f"- {f'{intent.request} {intent.at_confirmation}'.strip()}")
            continue
        bare = intent.details["request"]
        parts = PIECE_SEPARATOR.join(f"{k} = {v}" for k, v in intent.details.items() if k != "request")
        requests.append(bare)
        lines += [f"- {f'{bare} {intent.at_confirmation}'.strip()}", f"  {PIECES}{parts}"]
    return requests, lines


def _task(task_id: str, category: str, user: dict[str, Any], draft: Draft, rng: random.Random,
          style: str = "standard", piecemeal: bool = False) -> Task:
    known, unknown, lookup = _identity(user, rng)
    known_ids = [oid for intent in draft.intents if intent.order_known for oid in intent.order_ids]
    if len(known_ids) == 1:
        known += f" Your order id is {known_ids[0]}."
    elif known_ids:
        known += f" Your order ids are {' and '.join(known_ids)}."
    forgotten = [intent.order_ref for intent in draft.intents if not intent.order_known]
    if forgotten and not known_ids:
        unknown.append("You do not remember your order id.")
    elif forgotten:
        unknown += [f"You do not remember the id of your {ref}." for ref in forgotten]
    requests, lines = _lines(draft, piecemeal)
    wording = style_wording(style)
    family = load_family(style[len(FAMILY_STYLE):]) if style.startswith(FAMILY_STYLE) else None
    if wording is not None and rng.random() < 0.5:
        reason = vague_opening(rng, wording)  # the request comes when the agent asks for it
    else:
        greetings = (*family["greetings"], "") if family is not None else _GREETINGS
        greeting = rng.choice(greetings)
        reason = (greeting + " " if greeting and family is not None else greeting) + requests[0]
        if len(requests) > 1:
            reason += " I also have another request after that."
    name = user["name"]
    # A family's customer answers in that family's words too (ScriptedUser reads the persona).
    persona = f"wording: {family.name}" if family is not None else None
    instructions = UserInstructions(
        domain="retail", reason_for_call=reason, known_info=known,
        unknown_info=" ".join(unknown) or None,
        task_instructions=(f"You are {name['first_name']} {name['last_name']}. Make these requests one at "
                           "a time, in this order:\n" + "\n".join(lines)
                           + "\n" + _BEHAVIOUR))
    calls = [lookup, ("get_user_details", {"user_id": user["user_id"]})]
    calls += [call for intent in draft.intents for call in intent.calls]
    actions = [Action(action_id=f"{name_}_{i}", name=name_, arguments=args)
               for i, (name_, args) in enumerate(calls)]
    return Task(id=task_id, category=category, description={"purpose": draft.purpose},
                user_scenario=UserScenario(persona=persona, instructions=instructions),
                evaluation_criteria=EvaluationCriteria(
                    actions=actions,
                    communicate_info=[c for intent in draft.intents for c in intent.communicate_info]))


def _executes(base: RetailStore, task: Task, user_id: str) -> bool:
    """True if every gold call succeeds on a fresh copy and the lookup finds this very user."""
    with base.copy() as store:
        for i, action in enumerate(task.evaluation_criteria.actions):
            observation = store.invoke(action.name, action.arguments)
            if observation.startswith("Error:") or (i == 0 and observation != user_id):
                return False
    return True


def generate_suite(db_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], n: int,
                   seed: int = 0, eval_fraction: float = 0.3, style: str = "standard",
                   multi: bool = False, categories: tuple[str, ...] | None = None,
                   piecemeal: bool = False) -> list[Task]:
    """Write tasks.json, split_tasks.json and user_split.json into ``out_dir``; return the tasks.
    ``multi``: every task is one of ``MULTI_CATEGORIES`` (``_multi``); ``categories``: the tasks cycle
    through these instead (any of ``CATEGORIES``, ``MULTI_CATEGORIES``, ``EXTRA_CATEGORIES``)."""
    if piecemeal and not style.startswith(FAMILY_STYLE):
        raise GenerationError(f"--piecemeal needs a wording family's sentences, not style {style!r}",
                              hint="pass --style family:NAME (evals/wordings/NAME.yaml)")
    if style.startswith(FAMILY_STYLE):
        try:
            load_family(style[len(FAMILY_STYLE):])
        except WordingError as exc:
            raise GenerationError(exc.message, hint=exc.hint) from exc
    elif style not in STYLES:
        raise GenerationError(f"unknown suite style {style!r}",
                              hint=f"use one of {', '.join(STYLES)}, or family:NAME for a wording family")
    if n < 1:
        raise GenerationError(f"n={n}: a suite needs at least one task", hint="pass --n 1 or more")
    if not 0.0 <= eval_fraction <= 1.0:
        raise GenerationError(f"eval_fraction={eval_fraction} is outside 0..1",
                              hint="use e.g. 0.3 for 30% eval users")
    cycle = _categories(categories, style) if categories else MULTI_CATEGORIES if multi else CATEGORIES
    db = _load_db(db_path)
    train_users, eval_users = user_split(db, seed, eval_fraction)
    rng = random.Random(f"suite:{seed}")
    groups = {"train": list(train_users), "test": list(eval_users)}
    for users in groups.values():
        rng.shuffle(users)
    pools = {name: list(users) for name, users in groups.items()}
    base = RetailStore.from_json(db)
    tasks: list[Task] = []
    splits: dict[str, list[str]] = {"train": [], "test": []}
    try:
        for i in range(n):
            category = cycle[i % len(cycle)]
            # Test tasks spread evenly: task i is a test task when floor((i+1)f) steps past floor(i f).
            group = "test" if int((i + 1) * eval_fraction) > int(i * eval_fraction) else "train"
            if not groups[group]:
                group = "train" if group == "test" else "test"
            task = _pick(str(i), category, db, base, pools, groups, group, rng, style, piecemeal)
            tasks.append(task)
            splits[group].append(task.id)
    finally:
        base.close()
    out = Path(out_dir)
    save_tasks(tasks, out / "tasks.json", splits)
    (out / "user_split.json").write_text(
        json.dumps({"train_users": train_users, "eval_users": eval_users}, indent=2) + "\n", encoding="utf-8")
    return tasks


def _categories(categories: tuple[str, ...], style: str) -> tuple[str, ...]:
    """The asked categories, each known and worded by ``style``; else a ``GenerationError`` naming it."""
    known = (*CATEGORIES, *MULTI_CATEGORIES, *EXTRA_CATEGORIES)
    wording = style_wording(style)
    worded = EXTRA_CATEGORIES if wording is None else tuple(extra_builders(wording))
    for category in categories:
        if category not in known:
            raise GenerationError(f"unknown category {category!r}", hint=f"use some of {', '.join(known)}")
        if category in EXTRA_CATEGORIES and category not in worded:
            raise GenerationError(f"style {style!r} has no sentences for category {category!r}",
                                  hint="use --style standard or a wording family (family:NAME)")
    return tuple(categories)


def _pick(task_id: str, category: str, db: dict[str, Any], base: RetailStore, pools: dict[str, list[str]],
          groups: dict[str, list[str]], group: str, rng: random.Random, style: str, piecemeal: bool = False) -> Task:
    """The first user of the group's pool (unused users first) for whom the category works."""
    pool = pools[group]
    if not pool:  # every user of the group used once: start over
        pool.extend(groups[group])
    peers = [db["users"][u] for u in groups[group][:50]]  # "another user" stays in the same group
    for index, user_id in enumerate(pool):
        user = db["users"][user_id]
        draft = _draft(category, db, user, rng, [p for p in peers if p["user_id"] != user_id], style)
        if draft is None:
            continue
        task = _task(task_id, category, user, draft, rng, style, piecemeal)
        if _executes(base, task, user_id):
            pool.pop(index)
            return task
    raise GenerationError(f"no {group} user of the db fits category {category!r}",
                          hint="use a larger db or a different eval_fraction")
