"""The rule-based teacher: given a scenario's plan and the prompt the graph built, the correct next step.

Contract: a ``Teacher`` is the ``reply`` callable of a ``ScriptedChatModel``. Called with the exact
messages the agent graph shows the model, it returns one step in the canonical step format
(``Step.to_text()``: ``{"calls": [...]}`` or ``{"reply": "..."}``, arguments in signature order) and
logs ``{"messages", "target", "intent", "turn", "noisy"}``: one training example per model call.

How it decides (a function of the plan and the conversation it is shown; ``_View`` parses it):
1. not authenticated: the identity lookup once the user gave every value it needs, else ask for them;
2. then ``get_user_details``; then each intent of the plan in order, skipping those whose closing
   reply is already in the conversation:
   order lookup (by id when the user knows it, else ``get_order_details`` over the user's orders in
   listed order until the one holding the items; straight to that one when the graph offers only
   the orders the user described, ``focused``: the spec's ``policy.targets.lookups``), product details, ``calculate`` for a refund over
   several items, the write (the graph turns it into its confirmation question; after the user's
   yes the graph runs it), then the closing reply with the facts to tell, unless the graph reports
   its writes itself (``reported``, the spec's ``policy.confirmation.report``): then a write that ran is
   the intent's end. A forbidden request gets a refusal after the reads that show why; a transfer
   the hand-off call. An opening that asked for nothing (``Scenario.vague``) is answered, once the
   user is verified, with the spec's question for a request (``request_question``) before any intent;
3. after a change of mind (the user names ``IntentPlan.change_text``, however typed), the changed
   write instead;
4. an intent the user declined (``IntentPlan.declined``: the graph's ``declined`` sentence follows
   the statement of its write) is over, with no write: the teacher goes on to the next one.

Noise (``Scenario.noise``): one plausible mistake, made once, at the step it belongs to. A step the
decoder rejects (an invented id, a tool not offered yet) is answered, on the decoder's corrective
turn, with the clean step. The teacher never reads the store: it knows the initial db (an oracle) and
the conversation; a target that depends on something the prompt no longer shows is for ``verify``
to reject.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentspec.decoding.prompt import OBSERVATION_PREFIX
from agentspec.decoding.steps import Reply, Step, ToolCall
from agentspec.toolkit import Tool
from agentspec.train._scenario import IntentPlan, Scenario

__all__ = ["CORRECTION_PREFIX", "Teacher", "parse_view"]

CORRECTION_PREFIX = "That answer was invalid."  # the decoder's corrective turn (decoding/engine.py)
_AUTH = ("find_user_id_by_email", "find_user_id_by_name_zip")
_ASK_IDENTITY = (
    "I can help with that. First, please provide your email address, or your name and zip code, so I "
    "can verify your identity.",
    "Sure. To verify your identity, could you give me your email address, or your first and last name "
    "and your zip code?",
    "Happy to help. Before anything else, please provide the email address on your account, or your "
    "name and zip code.",
)


@dataclass
class _View:
    """The conversation as the model is shown it, parsed: user texts, calls with results, replies."""

    user_texts: list[str] = field(default_factory=list)
    calls: list[list[Any]] = field(default_factory=list)  # [name, arguments, observation | None]
    replies: list[str] = field(default_factory=list)
    correction: bool = False

    def seen(self, name: str, arguments: dict[str, Any], *, ok_only: bool = True) -> bool:
        """True if the call ran with these arguments (and, with ``ok_only``, did not fail)."""
        return any(n == name and a == arguments and o is not None and not (ok_only and o.startswith("Error"))
                   for n, a, o in self.calls)

    @property
    def authenticated(self) -> bool:
        return any(n in _AUTH and o is not None and not o.startswith("Error") for n, _, o in self.calls)


def parse_view(messages: Sequence[dict[str, Any]]) -> _View:
    """Parse a prompt (system first, then the conversation; a decoder retry's last two dropped)."""
    body = [m for m in messages if m["role"] != "system"]
    view = _View()
    if body and body[-1]["role"] == "user" and body[-1]["content"].startswith(CORRECTION_PREFIX):
        view.correction = True
        body = body[:-2]  # the failed attempt and the correction: decide as if they were not there
    for m in body:
        content = m["content"] or ""
        if m["role"] == "assistant":
            try:
                data = json.loads(content)
            except ValueError:
                continue
            if isinstance(data, dict) and "reply" in data:
                view.replies.append(data["reply"])
            for call in (data.get("calls") or []) if isinstance(data, dict) else []:
                view.calls.append([call.get("name"), call.get("arguments"), None])
        elif content.startswith(OBSERVATION_PREFIX):
            waiting = next((c for c in view.calls if c[2] is None), None)
            if waiting is not None:
                waiting[2] = content.split(": ", 1)[1] if ": " in content else ""
        else:
            view.user_texts.append(content)
    return view


class Teacher:
    """The ``reply`` of the teacher model; see the module docstring."""

    def __init__(self, scenario: Scenario, db: dict[str, Any], tools: Sequence[Tool], rng: random.Random,
                 *, reported: bool = False, focused: bool = False,
                 describe: Callable[[str, dict[str, Any]], str | None] | None = None,
                 declined: str | None = None, request_question: str | None = None):
        self.s = scenario
        self.describe = describe  # the toolkit's statement of a call: how the graph states a write
        self.declined = declined  # the graph's sentence after a plain no (spec.messages.declined)
        self.request_question = request_question or "How can I help you today?"
        self.focused = focused  # the grammar offers only the orders the user's words describe
        self.reported = reported  # the graph says "... has been cancelled" after a write: no closing reply
        self.db = db
        self.user = db["users"][scenario.user_id]
        self.rng = rng
        self.order_of = {t.name: list(t.parameters.get("properties", {})) for t in tools}
        self.finals: dict[int, str] = {}  # intent index -> its closing reply (once written)
        self.noise_used = False
        self.noisy_write: tuple[str, dict[str, Any]] | None = None
        self.log: list[dict[str, Any]] = []
        self.turn = 0  # set by the dialogue loop before each user message
        self.intent = scenario.plan[0].kind
        self._noisy_step = False

    # -- the ChatModel reply --------------------------------------------------------------------

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        self._noisy_step = False
        step = self.decide(parse_view(messages))
        text = step.to_text()
        self.log.append({"messages": [dict(m) for m in messages], "target": text, "intent": self.intent,
                         "turn": self.turn, "noisy": self._noisy_step})
        return text

    def _call(self, name: str, arguments: dict[str, Any]) -> Step:
        order = self.order_of.get(name, [])
        ordered = {k: arguments[k] for k in order if k in arguments} | arguments  # signature order first
        return Step(calls=(ToolCall(name=name, arguments=ordered),))

    def _noise(self, kind: str, view: _View) -> bool:
        """True once, at the step where the scenario's mistake belongs (never on a decoder retry)."""
        if self.s.noise != kind or self.noise_used or view.correction:
            return False
        self.noise_used = self._noisy_step = True
        return True

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, view: _View) -> Step:
        name, args = self.s.lookup
        if not view.authenticated:
            first_write = next((p.write for p in self.s.plan if p.write and p.kind not in ("transfer",)), None)
            if first_write and self._noise("write_before_auth", view):
                return self._call(*first_write)
            if self._noise("unverified_identity", view):
                return self._call(name, args)
            given = " ".join(view.user_texts).lower()
            if all(str(v).lower() in given for v in args.values()):
                return self._call(name, args)
            return Step(reply=Reply(text=self.rng.choice(_ASK_IDENTITY)))
        details = ("get_user_details", {"user_id": self.s.user_id})
        if not view.seen(*details):
            return self._call(*details)
        if self.s.vague and self.request_question not in view.replies:
            return Step(reply=Reply(text=self.request_question))  # the opening asked for nothing yet
        for i, plan in enumerate(self.s.plan):
            if i in self.finals and self.finals[i] in view.replies:
                continue
            if self.reported and self._written(plan, view):
                continue
            if plan.declined and self._turned_down(plan, view):
                continue
            self.intent = plan.kind
            return self._intent_step(i, plan, view)
        return Step(reply=Reply(text="Is there anything else I can help you with?"))

    def _final(self, i: int, text: str) -> Step:
        self.finals[i] = text
        return Step(reply=Reply(text=text))

    def _intent_step(self, i: int, p: IntentPlan, view: _View) -> Step:
        if p.kind == "transfer":
            assert p.write is not None
            return self._call(*p.write)
        mine = list(self.user["orders"])
        if p.order_id and p.order_id not in mine:
            # Looked up first (a new request starts with a call, policy.act_on_requests): the guard refuses
            # another user's data, and that refusal is what the reply explains.
            if not view.seen("get_order_details", {"order_id": p.order_id}, ok_only=False):
                return self._call("get_order_details", {"order_id": p.order_id})
            return self._final(i, f"I'm sorry, I can't help with order {p.order_id}: it is not one of your "
                                  "orders, and I can only act on the account of the person I'm talking to.")
        if p.order_id:
            search = [p.order_id] if p.order_known or self.focused else mine[: mine.index(p.order_id) + 1]
            for oid in search:
                if not view.seen("get_order_details", {"order_id": oid}):
                    return self._call("get_order_details", {"order_id": oid})
        if p.kind == "forbidden":
            return self._final(i, self._refusal(p))
        for read in p.reads:
            if not view.seen(*read):
                return self._call(*read)
        changed = p.changed_write is not None and any(_words(p.change_text) in _words(t) for t in view.user_texts)
        write = p.changed_write if changed else p.write
        assert write is not None
        if p.kind == "return" and len(write[1]["item_ids"]) > 1:
            calc = ("calculate", {"expression": self._refund_expression(p, write)})
            if not view.seen(*calc):
                return self._call(*calc)
        target = self._is_noise_target(i)
        if target and self._noise("skipped_confirmation", view):
            return self._final(i, self._done(p, write, omit=False))
        done = view.seen(*write, ok_only=False) or (
            self.noisy_write is not None and target and view.seen(*self.noisy_write, ok_only=False))
        if not done:
            if target and self.s.noise in ("wrong_item", "wrong_order", "hallucinated_id"):
                noisy = self._mistake(write)
                if noisy is not None and (self._noise(self.s.noise, view) or self.noisy_write == noisy):
                    if self.s.noise != "hallucinated_id":  # an invented id is retried, not kept
                        self.noisy_write = noisy
                    self._noisy_step = True
                    return self._call(*noisy)
            return self._call(*write)
        omit = self.s.noise == "omitted_info" and bool(p.communicate) and self._noise("omitted_info", view)
        return self._final(i, self._done(p, self.noisy_write if target and self.noisy_write else write, omit))

    # -- helpers ----------------------------------------------------------------------------------

    def _turned_down(self, p: IntentPlan, view: _View) -> bool:
        """The graph's ``declined`` sentence came after the statement of the intent's write."""
        if p.write is None or not self.declined:
            return False
        statement = self.describe(*p.write) if self.describe else None
        stated = next((k for k, r in enumerate(view.replies) if statement and statement in r), None)
        if statement and stated is None:
            return False
        return any(r.startswith(self.declined) for r in view.replies[0 if stated is None else stated + 1:])

    def _written(self, p: IntentPlan, view: _View) -> bool:
        """The intent's write (as planned, as changed, or the scenario's mistake) ran successfully."""
        writes = [w for w in (p.write, p.changed_write, self.noisy_write) if w is not None]
        return p.kind not in ("transfer", "forbidden") and any(view.seen(*w) for w in writes)

    def _is_noise_target(self, i: int) -> bool:
        """The first intent the scenario's mistake applies to (never one the user declines)."""
        kinds = {"wrong_item": ("modify_items", "exchange"), "omitted_info": None}
        wanted = kinds.get(self.s.noise or "", ())
        for j, p in enumerate(self.s.plan):
            if p.write is None or p.kind == "transfer" or p.declined:
                continue
            if wanted is None and not p.communicate:
                continue
            if wanted and p.kind not in wanted:
                continue
            return j == i
        return False

    def _mistake(self, write: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
        name, args = write
        rng = random.Random(f"mistake:{self.s.index}")  # the same mistake on every re-emission
        if self.s.noise == "hallucinated_id":
            return name, {**args, "order_id": f"#W{rng.randrange(10**6, 10**7)}"}
        if self.s.noise == "wrong_order":
            others = [o for o in self.user["orders"] if o != args.get("order_id")]
            return (name, {**args, "order_id": rng.choice(others)}) if others else None
        old, new = args["item_ids"][0], args["new_item_ids"][0]
        product = next(p for p in self.db["products"].values() if old in p["variants"])
        others = [vid for vid, v in sorted(product["variants"].items()) if v["available"] and vid not in (old, new)]
        return (name, {**args, "new_item_ids": [rng.choice(others)]}) if others else None

    def _refund_expression(self, p: IntentPlan, write: tuple[str, dict[str, Any]]) -> str:
        order = self.db["orders"][write[1]["order_id"]]
        prices = {item["item_id"]: item["price"] for item in order["items"]}
        return " + ".join(str(prices[i]) for i in write[1]["item_ids"])

    def _method(self, method_id: str) -> str:
        m = self.user["payment_methods"].get(method_id, {})
        if m.get("source") == "credit_card":
            return f"your {m['brand']} card ending in {m['last_four']} ({method_id})"
        return f"your {m.get('source', 'payment method').replace('_', ' ')} ({method_id})"

    def _refusal(self, p: IntentPlan) -> str:
        order = self.db["orders"][p.order_id]  # type: ignore[index]
        oid, status, request = order["order_id"], order["status"], p.request.lower()
        what = p.refusal or ("return" if "return" in request else "modify" if "address" in request else "cancel")
        if what == "return":
            return (f"I'm sorry, I cannot return order {oid}: it is {status}, and only delivered orders can be "
                    "returned.")
        if what == "modify":
            return (f"I'm sorry, I cannot change order {oid}: it is {status}, and only pending orders can be "
                    "modified.")
        return f"Your order {oid} is {status}. I'm sorry, I cannot cancel it: only pending orders can be cancelled."

    def _done(self, p: IntentPlan, write: tuple[str, dict[str, Any]], omit: bool) -> str:
        _, a = write
        oid = a.get("order_id")
        if p.kind == "cancel":
            return (f"Your order {oid} has been cancelled (reason: {a['reason']}). The refund goes back to the "
                    "original payment method.")
        if p.kind == "modify_address":
            where = ", ".join(str(a[k]) for k in ("address1", "address2", "city", "state", "zip", "country") if a[k])
            return f"The shipping address of order {oid} has been updated to {where}."
        if p.kind == "modify_payment":
            return f"The payment method of order {oid} has been changed to {self._method(a['payment_method_id'])}."
        items = ", ".join(a.get("item_ids", []))
        if p.kind == "modify_items":
            return (f"Your order {oid} has been modified: item {items} is now {', '.join(a['new_item_ids'])}; "
                    f"any price difference is settled with {self._method(a['payment_method_id'])}.")
        if p.kind == "exchange":
            return (f"The exchange in order {oid} has been requested: item {items} for "
                    f"{', '.join(a['new_item_ids'])}. You will receive an email with the return instructions.")
        refund = "" if omit or not p.communicate else f" You will get back ${p.communicate[0]} to " \
                                                      f"{self._method(a['payment_method_id'])}."
        return (f"The return of item(s) {items} from order {oid} has been requested.{refund} You will receive "
                "an email with the return instructions.")


def _words(text: str) -> str:
    """``text`` as lower-case words (so "in Grey, size L" is found in "actually in grey size l pls")."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "
