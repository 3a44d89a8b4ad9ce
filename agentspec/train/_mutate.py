"""Evol-Instruct-style mutation of the user side: paraphrases, typos, casing, context, a change of mind.

Contract: ``MutatingUser(inner, mutations, rng, change=...)`` wraps the evals ``ScriptedUser`` (which
decides WHAT the user says, from the scenario) and rewrites HOW it is said. It keeps every value the
agent needs verbatim (emails, names, zip codes, ids, item options, amounts): rewrites touch only the
fixed phrases of the scripted user and a list of common words. Confirmations stay explicit yeses
(the user's ``acts`` say so), so mutation never turns a confirmed write into an unconfirmed one.

Mutations (``Scenario.mutations``):
- ``paraphrase``: the scripted user's stock sentences (identity, yes, "one more thing") drawn from
  several phrasings;
- ``typos``: one or two swapped letters in common words of the opening and follow-up requests;
  ``casing``-style variation comes with it (a request all in lower case);
- ``context``: an extra sentence of small talk around the opening request;
- ``change_mind``: at the first confirmation of the intent's original write, the user asks for the
  other option instead (the teacher then writes the changed call).

Not here: what the user wants (``_scenario``), what the agent does (``_teacher``).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from agentspec.evals.users import STOP, ScriptedUser

__all__ = ["CONFIRMATIONS", "MutatingUser", "make_user", "typo"]

CONFIRMATIONS = ("Yes, please go ahead.", "Yes.", "yes please", "Yes, go ahead.", "Sure, please do.",
                 "Yep, go ahead.", "Ok, please proceed.", "Yes, that's right, please proceed.", "Confirmed.")
_NEXT = ("Thanks! One more thing: {r}", "Great, thank you. Also, {r}", "Perfect. Next, {r}",
         "Thanks. I have another request: {r}")
_CONTEXT = ("I've been a customer for years.", "I'm in a bit of a hurry today.", "Hope you're doing well.",
            "This is my first time contacting support.", "I tried the website but couldn't figure it out.")
_EMAIL = ("My email is {e}.", "Sure, it's {e}.", "You can find me under {e}.", "email: {e}", "It's {e}")
_NAME = ("My name is {f} {l} and my zip code is {z}.", "I'm {f} {l}, zip code {z}.",
         "Sure: {f} {l}, and my zip is {z}.", "Name's {f} {l}; zip code {z}.")
_COMMON = {"please", "order", "would", "change", "because", "thanks", "cancel", "return", "exchange", "want",
           "need", "instead", "mistake", "longer", "shipping", "address", "switch", "payment", "difference"}
_CHANGE = ("Actually, wait: I'd rather have the one with {o} instead.",
           "Hold on, I changed my mind: please make it the one with {o}.",
           "Actually, can we do the one with {o} instead?")


def typo(text: str, rng: random.Random, n: int = 1) -> str:
    """Swap two inner letters of up to ``n`` common words (never an id, a name or a number)."""
    words = re.split(r"(\W+)", text)
    spots = [i for i, w in enumerate(words) if w.lower() in _COMMON and len(w) >= 5]
    for i in rng.sample(spots, min(n, len(spots))):
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return "".join(words)


class MutatingUser:
    """A ``UserSimulator`` that rewrites a ``ScriptedUser``'s wording (see the module docstring)."""

    def __init__(self, inner: ScriptedUser, mutations: Sequence[str], rng: random.Random, *,
                 change: tuple[str, str] | None = None):
        self.inner = inner
        self.mutations = set(mutations)
        self.rng = rng
        # (statement of the original write, options phrase of the other variant)
        self.change = change if "change_mind" in self.mutations else None
        self._changed = False
        self.acts: list[str] = []  # what each reply was (the inner user's acts; change_mind where changed)

    @property
    def done(self) -> bool:
        return self.inner.done

    def reply(self, agent_text: str | None) -> str:
        text = self.inner.reply(agent_text)
        self.acts.append(self.inner.acts[-1] if self.inner.acts else "unknown")
        if STOP in text:
            return text
        if self.change and not self._changed and agent_text and self.change[0] in agent_text:
            self._changed = True
            self.acts[-1] = "change_mind"
            return self.rng.choice(_CHANGE).format(o=self.change[1])
        return self._rewrite(text, opening=agent_text is None)

    def _rewrite(self, text: str, opening: bool) -> str:
        paraphrase = "paraphrase" in self.mutations
        if text == "Yes, please go ahead.":
            return self.rng.choice(CONFIRMATIONS) if paraphrase else text
        if m := re.fullmatch(r"My email is (\S+@\S+?)\.", text):
            return self.rng.choice(_EMAIL).format(e=m.group(1)) if paraphrase else text
        if m := re.fullmatch(r"My name is (\S+) (.+?) and my zip code is (\d+)\.", text):
            return self.rng.choice(_NAME).format(f=m.group(1), l=m.group(2), z=m.group(3)) if paraphrase else text
        if m := re.fullmatch(r"Thanks! One more thing: (.*)", text, re.S):
            request = self._request(m.group(1))
            return self.rng.choice(_NEXT).format(r=request) if paraphrase else f"Thanks! One more thing: {request}"
        if opening:
            text = self._request(text)
            if "context" in self.mutations:
                extra = self.rng.choice(_CONTEXT)
                text = f"{extra} {text}" if self.rng.random() < 0.5 else f"{text} {extra}"
        return text

    def _request(self, text: str) -> str:
        if "typos" in self.mutations:
            text = typo(text, self.rng, n=self.rng.choice([1, 2]))
            if self.rng.random() < 0.3:  # lower case, but ids keep theirs (#W..., item ids)
                text = re.sub(r"\b[^\W\d]+\b", lambda m: m.group(0).lower(), text)
        return text


def make_user(scenario: Any, rng: random.Random, describe: Callable[[str, dict[str, Any]], str | None],
              max_turns: int) -> MutatingUser:
    """The user of ``scenario``: its ScriptedUser, wrapped with the scenario's mutations."""
    change = None
    for p in scenario.plan:
        if p.changed_write is not None and p.write is not None:
            change = (describe(*p.write) or "", p.change_text)
    inner = ScriptedUser(scenario.task.user_scenario, max_turns=max_turns)
    return MutatingUser(inner, scenario.mutations, rng, change=change)

