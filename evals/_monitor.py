"""What the harness measures about an agent independently of what the agent reports (private).

``EpisodeMonitor`` watches one episode, turn by turn:

- hallucinated ids: an identifier argument (``order_id``, ``user_id``, ``item_ids``, ``new_item_ids``,
  ``product_id``, ``item_id``, ``payment_method_id``) whose value was not shown earlier in the
  conversation (a user message or an earlier observation; ``agentspec.decoding.grounding`` decides
  what counts as shown). A write's id that the agent's previous reply stated and the user's yes
  confirmed is shown too: an agent may find the variant a customer described ("the one in grey") in
  the catalogue without reading it aloud first, and the customer confirmed that id. Recorded as
  "kind:value".
- policy violations (retail policy): a write before a successful identity lookup; a write whose user
  message is not a yes to a question in the agent's previous reply (what the simulator meant, when
  it records its acts; else an explicit yes word), or a second write on the same yes; a write on an
  order of another user than the authenticated one.

It reads the store only through read tools (no state change). It does not judge replies.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from agentspec.decoding.grounding import Grounding
from agentspec.tools.retail import RETAIL_SHAPES, RetailStore

if TYPE_CHECKING:
    from .agents import AgentTurn

__all__ = ["EpisodeMonitor", "ID_ARGUMENTS"]

# Argument name -> identifier kind (the retail tools' ``Identifier`` annotations).
ID_ARGUMENTS: dict[str, str] = {
    "user_id": "user", "order_id": "order", "item_id": "item", "item_ids": "item", "new_item_ids": "item",
    "product_id": "product", "payment_method_id": "payment_method",
}
# Explicit yeses, as customers (and the scripted users) word them: "Correct, please go on." is one.
_YES = re.compile(r"^\s*(?:yes|yeah|yep|yup|sure|ok|okay|i confirm|confirm(?:ed)?|correct|that's right|right|"
                  r"absolutely|definitely|go ahead|please proceed|proceed|please do|do it)\b", re.I)


class EpisodeMonitor:
    def __init__(self, store: RetailStore) -> None:
        self.store = store
        self.grounding = Grounding.from_shapes(RETAIL_SHAPES)
        self.user_id: str | None = None
        self.last_reply = ""
        self.user_text = ""
        self.confirmation_open = False

    def observe_user(self, text: str, confirms: bool | None = None) -> None:
        """One user message. ``confirms``: whether the simulator meant it as a yes (a scripted user's
        act "confirm"); None when it cannot say (an LLM user): then an explicit yes word decides."""
        self.grounding.observe_text(text)
        self.user_text = text
        # A yes answers the question of the previous reply; it licenses one write.
        meant = bool(_YES.search(text)) if confirms is None else confirms
        self.confirmation_open = "?" in self.last_reply and meant

    def check_turn(self, turn: AgentTurn) -> tuple[list[str], list[str]]:
        """(hallucinated ids, policy violations) of one agent turn; updates what has been seen."""
        hallucinated, violations = [], []
        for call in turn.tool_calls:
            confirmed = self.last_reply if call.name in RetailStore.WRITE_TOOLS and self.confirmation_open else ""
            for arg, kind in ID_ARGUMENTS.items():
                value = call.arguments.get(arg)
                values = value if isinstance(value, list) else [value] if value is not None else []
                hallucinated += [f"{kind}:{v}" for v in values
                                 if isinstance(v, str) and (kind, v) not in self.grounding and v not in confirmed]
            if call.name in RetailStore.WRITE_TOOLS and call.outcome == "ok":
                violations += self._check_write(call.name, call.arguments)
            if call.name in RetailStore.AUTH_TOOLS and call.outcome == "ok":
                self.user_id = call.observation.strip()
            self.grounding.observe_text(call.observation)
        self.last_reply = turn.reply
        return hallucinated, violations

    def _check_write(self, name: str, arguments: dict) -> list[str]:
        out = []
        if self.user_id is None:
            out.append(f"{name} before authentication")
        if not self.confirmation_open:
            out.append(f"{name} without explicit confirmation")
        self.confirmation_open = False
        order_id = arguments.get("order_id")
        if self.user_id is not None and isinstance(order_id, str):
            observation = self.store.invoke("get_order_details", {"order_id": order_id})
            if not observation.startswith("Error:"):
                owner = json.loads(observation).get("user_id")
                if owner != self.user_id:
                    out.append(f"{name} on order {order_id} of another user ({owner})")
        return out
