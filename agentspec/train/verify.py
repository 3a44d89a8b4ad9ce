"""Verification filters of synthetic dialogues: each says why a dialogue must not be trained on.

Contract: every check takes a recorded dialogue (the dict ``data`` writes to ``dialogues.jsonl``)
and returns ``Rejection(reason, detail)`` items, empty when it passes. The checks read only the
record (and a sandbox copy of the store): they do not trust the agent graph that produced it, so a
bug in the graph's guard, a spec with a looser policy or a hand-written dialogue is caught the same.

Record fields used: ``events`` (in order: ``{"kind": "user", "text"}``, ``{"kind": "reply", "text",
"by": "model" | "graph"}``, ``{"kind": "call", "name", "arguments", "observation"}``), ``steps``
(model calls: ``messages`` without the system one, ``system`` key into ``systems``, ``target``),
``gold`` ([name, arguments] calls whose replay gives the goal state), ``communicate_info``,
``forbidden`` and ``termination``.

Reasons (``REASONS``):
- ``tool_error``: a call that failed (an ``Error:`` observation, a policy refusal included), or
  whose observation differs when replayed on a fresh sandbox. Allowed only in ``forbidden``
  dialogues, where the refusal is the point.
- ``wrong_final_state``: the sandbox after replaying the dialogue's calls differs from a fresh store
  after the gold calls (``state_hash``).
- ``read_before_auth``: a call needing the user before a successful authentication whose arguments
  the user had actually given (a lookup with values the user never said does not authenticate).
- ``write_without_confirmation``: a write not preceded by the agent stating exactly that call
  (the toolkit's ``describe`` sentence) and then a yes from the user (the simulated user's act
  ``confirm``); or a write the user turned down earlier: its statement was answered with a no
  (``decline``) or a change of mind (``change_mind``: only the changed call, stated and confirmed
  in turn, may run).
- ``malformed_step``: a model target that does not parse as a step against the tools offered and
  the identifiers visible IN THAT PROMPT (an invented id, a tool not offered yet, an id that context
  compaction hid: the model could not have produced it).
- ``claimed_write``: a model reply saying a write is done (the toolkit's ``claims_done``) when no write
  ran since the user's last message in its prompt: the graph decodes such a reply again as a call,
  but as a target it would teach the claim.
- ``missing_info``: a fact to tell the user (a refund amount, a status) that no reply says (the
  model's, or the graph's own: a write's statement or report states the refund).
- ``unfinished``: the dialogue ran out of turns.
- ``near_duplicate``: (``near_duplicates``) word 5-gram Jaccard >= threshold with an earlier kept
  dialogue of the same category. Exact pairwise comparison within a category: fine up to ~10^4
  dialogues; beyond that use MinHash.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentspec.decoding.grounding import Grounding
from agentspec.decoding.prompt import OBSERVATION_PREFIX
from agentspec.decoding.steps import parse_step
from agentspec.errors import MalformedStepError
from agentspec.evals.reward import communicated
from agentspec.spec import PolicySpec
from agentspec.toolkit import Tool
from agentspec.tools.retail import RETAIL_SHAPES, RetailStore
from agentspec.train._teacher import parse_view

__all__ = ["REASONS", "Rejection", "check_claims", "check_execution", "check_outcome", "check_policy", "check_steps",
           "near_duplicates", "verify_dialogue"]

REASONS = ("tool_error", "wrong_final_state", "read_before_auth", "write_without_confirmation",
           "malformed_step", "claimed_write", "missing_info", "unfinished", "near_duplicate")
Describe = Callable[[str, dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _calls(dialogue: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in dialogue["events"] if e["kind"] == "call"]


def check_execution(dialogue: dict[str, Any], base: RetailStore) -> list[Rejection]:
    """``tool_error`` and ``wrong_final_state``, by replaying the calls on a sandbox copy of ``base``."""
    out: list[Rejection] = []
    with base.copy() as sandbox:
        for call in _calls(dialogue):
            recorded = call["observation"]
            if recorded.startswith("Error: policy:"):  # refused by the agent's guard: it never ran
                observation = recorded
            else:
                observation = sandbox.invoke(call["name"], call["arguments"])
                if observation != recorded:
                    out.append(Rejection("tool_error", f"{call['name']} answers differently on replay"))
                    continue
            if observation.startswith("Error:") and not dialogue.get("forbidden"):
                out.append(Rejection("tool_error", f"{call['name']}: {observation[:160]}"))
        final = sandbox.state_hash()
    with base.copy() as goal:
        for name, arguments in dialogue["gold"]:
            if goal.invoke(name, arguments).startswith("Error:"):  # the goal itself cannot be reached
                out.append(Rejection("wrong_final_state", f"gold call {name} fails on a fresh store"))
        if final != goal.state_hash():
            out.append(Rejection("wrong_final_state", "the store after the dialogue differs from the goal state"))
    return out[:1] + [r for r in out[1:] if r.reason != "tool_error"]  # one tool_error is enough


def check_policy(dialogue: dict[str, Any], policy: PolicySpec, describe: Describe) -> list[Rejection]:
    """``read_before_auth`` and ``write_without_confirmation`` on the recorded events."""
    out: list[Rejection] = []
    said = ""
    authenticated = False
    last_user: dict[str, Any] | None = None
    reply_before_user: str | None = None  # the agent's last reply before the user's last message
    last_reply: str | None = None
    turned_down: list[str] = []  # replies (statements) the user answered with a no or a change of mind
    for event in dialogue["events"]:
        if event["kind"] == "user":
            said += " " + event["text"].lower()
            last_user, reply_before_user = event, last_reply
            if event.get("act") in ("decline", "change_mind") and last_reply is not None:
                turned_down.append(last_reply)
            continue
        if event["kind"] == "reply":
            last_reply = event["text"]
            continue
        name, args, observation = event["name"], event["arguments"], event["observation"]
        if observation.startswith("Error: policy:"):
            continue  # not run
        if name in policy.authentication.tools and not observation.startswith("Error"):
            given = all(str(v).lower() in said for v in args.values())
            authenticated = authenticated or given
            if not given:
                out.append(Rejection("read_before_auth", f"{name} used identity values the user never gave"))
        elif name in policy.authentication.required_by and not authenticated:
            out.append(Rejection("read_before_auth", f"{name} before the user was authenticated"))
        if name in policy.confirmation.tools:
            statement = describe(name, args) or f"{name} with {json.dumps(args, ensure_ascii=False)}"
            stated = reply_before_user is not None and statement in reply_before_user
            if not (stated and last_user is not None and last_user.get("act") == "confirm"):
                out.append(Rejection("write_without_confirmation",
                                     f"{name} ran without the user confirming exactly that call"))
            elif any(statement in r for r in turned_down):
                out.append(Rejection("write_without_confirmation",
                                     f"{name} ran although the user had turned exactly that call down"))
            last_user = None  # one yes confirms one write
    seen: set[str] = set()
    return [r for r in out if not (r.reason in seen or seen.add(r.reason))]  # first of each reason


def check_steps(dialogue: dict[str, Any], tools: Sequence[Tool], policy: PolicySpec,
                max_calls: int) -> list[Rejection]:
    """``malformed_step``: every target must parse against what its own prompt shows."""
    needs_user = set(policy.authentication.required_by)
    for step in dialogue["steps"]:
        messages = step["messages"]
        grounding = Grounding.from_shapes(RETAIL_SHAPES)
        for m in messages:
            content = m["content"] or ""
            if m["role"] != "user":
                continue
            # As the graph grounds: a user's words as text, a tool's result as the tool gave it (its JSON
            # walked by key, so a profile's address is no dictated text), an error not at all.
            shown = re.match(rf"{OBSERVATION_PREFIX} \w+: ", content)
            observation = content[shown.end():] if shown else None
            if observation is None:
                grounding.observe_text(content)
            elif not observation.startswith("Error"):
                grounding.observe_text(observation)
        offered = list(tools) if parse_view(messages).authenticated else [t for t in tools if t.name not in needs_user]
        try:
            parse_step(step["target"], offered, grounding, allow_reply=True, max_calls=max_calls)
        except MalformedStepError as exc:
            return [Rejection("malformed_step", f"turn {step['turn']}: {exc.reason}: {exc.message[:160]}")]
    return []


def check_claims(dialogue: dict[str, Any]) -> list[Rejection]:
    """``claimed_write``: no reply target says a write is done unless one ran since the user last spoke."""
    for step in dialogue["steps"]:
        target = json.loads(step["target"])
        text = target.get("reply") if isinstance(target, dict) else None
        if not isinstance(text, str) or not RetailStore.claims_done(text):
            continue
        written = False  # a write's observation since the user last spoke
        for m in step["messages"]:
            content = str(m["content"] or "")
            shown = re.match(rf"{OBSERVATION_PREFIX} (\w+): ", content) if m["role"] == "user" else None
            if m["role"] == "user" and shown is None:
                written = False
            elif shown and shown.group(1) in RetailStore.WRITE_TOOLS and not content[shown.end():].startswith("Error"):
                written = True
        if not written:
            return [Rejection("claimed_write", f"turn {step['turn']}: {text[:120]}")]
    return []


def check_outcome(dialogue: dict[str, Any]) -> list[Rejection]:
    """``unfinished`` and ``missing_info``."""
    out = []
    if dialogue["termination"] not in ("user_stop", "transfer"):
        out.append(Rejection("unfinished", f"ended by {dialogue['termination']}"))
    replies = [e["text"] for e in dialogue["events"] if e["kind"] == "reply"]  # the user hears both
    missing = communicated(dialogue.get("communicate_info", []), replies)
    if missing:
        out.append(Rejection("missing_info", f"never told the user: {', '.join(missing)}"))
    return out


def verify_dialogue(dialogue: dict[str, Any], base: RetailStore, *, policy: PolicySpec, tools: Sequence[Tool],
                    describe: Describe, max_calls: int = 1) -> list[Rejection]:
    """Every per-dialogue check (near-duplicates need the whole set: ``near_duplicates``)."""
    return [*check_execution(dialogue, base), *check_policy(dialogue, policy, describe),
            *check_steps(dialogue, tools, policy, max_calls), *check_claims(dialogue), *check_outcome(dialogue)]


def _shingles(dialogue: dict[str, Any], n: int = 5) -> set[int]:
    parts = []
    for e in dialogue["events"]:
        if e["kind"] == "call":
            parts.append(f"{e['name']} {json.dumps(e['arguments'], sort_keys=True)}")
        elif e["kind"] == "user" or e.get("by") == "model":
            parts.append(e["text"])
    words = re.findall(r"[a-z0-9#@._-]+", " ".join(parts).lower())
    return {hash(tuple(words[i:i + n])) for i in range(max(1, len(words) - n + 1))}


def near_duplicates(dialogues: Iterable[dict[str, Any]], threshold: float = 0.9) -> dict[str, tuple[str, float]]:
    """``{id: (id of the earlier dialogue it nearly repeats, Jaccard)}``; the first one is kept."""
    kept: dict[str, list[tuple[str, set[int]]]] = defaultdict(list)
    out: dict[str, tuple[str, float]] = {}
    for d in dialogues:
        sh = _shingles(d)
        bucket = kept[d["category"]]
        for other_id, other in bucket:
            jaccard = len(sh & other) / max(1, len(sh | other))
            if jaccard >= threshold:
                out[d["id"]] = (other_id, round(jaccard, 3))
                break
        else:
            bucket.append((d["id"], sh))
    return out
