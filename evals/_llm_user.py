"""The LLM user: any ``ChatModel`` plays the customer of a task's user scenario (``users`` has the protocol).

A compact system prompt adapted from tau2's user-simulator guidelines plus the scenario; the
conversation is shown with roles swapped (the agent speaks as "user"). tau2's ###TRANSFER### and
###OUT-OF-SCOPE### tokens are mapped to ###STOP###; an empty completion also stops. It stops after
``max_turns`` replies like the scripted user.
"""
from __future__ import annotations

from agentspec.runtime.base import ChatModel, GenerationSettings, Message

from .users import _OTHER_STOPS, STOP, _check_scenario
from .tasks import UserScenario

__all__ = ["LLMUser", "USER_GUIDELINES"]

USER_GUIDELINES = f"""You are playing a customer who contacts a customer service agent.
Follow the scenario below exactly.
- Write one short message at a time, as the customer, in the first person.
- Never make up information that is not in the scenario; anything not given there is unknown to you.
- Do not copy the instructions word for word; say things naturally.
- Give information only when the agent asks for it.
- Keep going until every request in the scenario is done. Agreeing to an action is not the same as the
  action being done: wait until the agent says it is done.
- When every request is done, or the agent has refused in line with its policy, write {STOP}.
- If you are transferred to a human agent, write {STOP}."""

_AGENT_GREETING = "Hi! How can I help you today?"


class LLMUser:
    """A customer played by ``model``; greedy by default, seeded for repeatable sampling."""

    def __init__(self, scenario: UserScenario, model: ChatModel, *, settings: GenerationSettings | None = None,
                 max_turns: int = 20, seed: int = 0) -> None:
        _check_scenario(scenario, "LLMUser")
        self.model = model
        self.settings = (settings or GenerationSettings(max_tokens=256)).with_(seed=seed)
        self.max_turns = max_turns
        self.system = f"{USER_GUIDELINES}\n\n# Scenario\n{scenario}"
        self.history: list[Message] = []  # from the user model's side: agent = "user"
        self.turns = 0
        self.done = False

    def reply(self, agent_text: str | None) -> str:
        self.turns += 1
        self.history.append({"role": "user", "content": _AGENT_GREETING if agent_text is None else agent_text})
        if self.turns > self.max_turns:
            self.done = True
            return f"I have to go now. {STOP}"
        messages: list[Message] = [{"role": "system", "content": self.system}, *self.history]
        text = self.model.complete(messages, self.settings).text.strip()
        for token in _OTHER_STOPS:
            text = text.replace(token, STOP)
        if not text:
            text = STOP
        if STOP in text:
            self.done = True
        self.history.append({"role": "assistant", "content": text})
        return text

