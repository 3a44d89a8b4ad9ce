"""How the simulated customer types: typos, lower case, no punctuation, identity up front, small talk.

Contract: ``MutatingUser(inner, mutations, rng, protected=..., families=..., identity=...)`` wraps the
evals ``ScriptedUser`` (which decides WHAT the user says, and in which wording family's words, from
the scenario) and changes HOW it is typed. Every value the agent needs stays verbatim (``protected``:
emails, names, zip codes, ids, numbers, addresses, product names, option values, payment phrases):
noise touches only the text around them. What a reply means never changes: ``acts`` records the inner
user's act for each reply (a yes stays a "confirm", a no a "decline"), so verification reads what the
user meant, not how it was typed.

Mutations (``Scenario.mutations``), each on for a whole dialogue:
- ``typos``: one or two slips (two letters swapped, one dropped or doubled) in words of four letters
  or more of the requests and other sentences (never in a short yes or no);
- ``lowercase``: everything but the protected values in lower case;
- ``no_punctuation``: no full stops, commas, question marks or apostrophes outside the values;
- ``identity_first``: the opening gives the email, or the name and zip code, before anyone asks (in a
  family's sentence), before or after the request;
- ``small_talk``: a family's off-topic sentence before or after the opening request;
- ``paraphrase``: the plain scripted user's stock sentences (yes, identity, "one more thing") drawn
  from several phrasings (dialogues without reply families).
``noise`` records, per reply, the kinds that changed its text; ``sources`` the family that worded it.

Not here: what the user wants (``_scenario``), what the agent does (``_teacher``).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from agentspec.evals.users import STOP, ScriptedUser, parse_known_info

__all__ = ["CONFIRMATIONS", "MutatingUser", "make_user", "protected_values", "typo", "unpunctuated"]

CONFIRMATIONS = ("Yes, please go ahead.", "Yes.", "yes please", "Yes, go ahead.", "Sure, please do.",
                 "Yep, go ahead.", "Ok, please proceed.", "Yes, that's right, please proceed.", "Confirmed.")
_NEXT = ("Thanks! One more thing: {r}", "Great, thank you. Also, {r}", "Perfect. Next, {r}",
         "Thanks. I have another request: {r}")
_CONTEXT = ("I've been a customer for years.", "I'm in a bit of a hurry today.", "Hope you're doing well.",
            "This is my first time contacting support.", "I tried the website but couldn't figure it out.")
_EMAIL = ("My email is {e}.", "Sure, it's {e}.", "You can find me under {e}.", "email: {e}", "It's {e}")
_NAME = ("My name is {f} {l} and my zip code is {z}.", "I'm {f} {l}, zip code {z}.",
         "Sure: {f} {l}, and my zip is {z}.", "Name's {f} {l}; zip code {z}.")
# Replies that are sentences (typos allowed); a yes, a no, an email or a name stay as typed.
_TYPO_ACTS = ("opening", "state", "next", "restate", "change_mind", "unknown", "done", "wait")
_VALUE = re.compile(r"\S*[\d@#]\S*")  # ids, emails, numbers, zip codes: never touched
_PUNCTUATION = re.compile(r"[.,!?;:'\"’]")


def _spans(text: str, protected: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans of ``text`` no mutation may touch, merged when only spaces or commas separate
    them (an address dictated part by part stays one piece)."""
    spans = [m.span() for m in _VALUE.finditer(text)]
    low = text.lower()
    for value in protected:
        if len(value) < 2:
            continue
        for m in re.finditer(rf"(?<!\w){re.escape(value.lower())}(?!\w)", low):
            spans.append(m.span())
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and re.fullmatch(r"[\s,]{0,3}", text[merged[-1][1]:start] if start > merged[-1][1] else ""):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _outside(text: str, protected: Sequence[str], change: Callable[[str], str]) -> str:
    """``text`` with ``change`` applied to each stretch outside the protected spans."""
    out, at = [], 0
    for start, end in _spans(text, protected):
        out += [change(text[at:start]), text[start:end]]
        at = end
    out.append(change(text[at:]))
    return "".join(out)


def _slip(word: str, rng: random.Random) -> str:
    j = rng.randrange(1, len(word) - 2)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        return word[:j] + word[j + 1] + word[j] + word[j + 2:]
    if kind == "drop":
        return word[:j] + word[j + 1:]
    return word[:j] + word[j] + word[j:]


def typo(text: str, rng: random.Random, n: int = 1, protected: Sequence[str] = ()) -> str:
    """Up to ``n`` slips in words of four letters or more outside the protected values."""
    spans = _spans(text, protected)
    words = [m for m in re.finditer(r"[^\W\d_]{4,}", text)
             if not any(s < m.end() and m.start() < e for s, e in spans)]
    for m in sorted(rng.sample(words, min(n, len(words))), key=lambda m: -m.start()):
        text = text[:m.start()] + _slip(m.group(0), rng) + text[m.end():]
    return text


def unpunctuated(text: str, protected: Sequence[str] = ()) -> str:
    """``text`` without punctuation outside the protected values (spaces tidied)."""
    bare = _outside(text, protected, lambda part: _PUNCTUATION.sub("", part))
    return re.sub(r"\s{2,}", " ", bare).strip()


def _join(first: str, second: str, rng: random.Random) -> str:
    if re.search(r"[.!?]$", first.strip()):
        return f"{first.strip()} {second}"
    return f"{first.strip()}{rng.choice(('. ', ', ', ' - ', ' '))}{second}"


class MutatingUser:
    """A ``UserSimulator`` that changes how a ``ScriptedUser``'s replies are typed (module docstring)."""

    def __init__(self, inner: ScriptedUser, mutations: Sequence[str], rng: random.Random, *,
                 protected: Sequence[str] = (), families: Sequence[Any] = (), identity: str | None = None,
                 opening: str | None = None):
        self.inner = inner
        self.mutations = set(mutations)
        self.rng = rng
        self.protected = sorted(set(protected), key=len, reverse=True)
        self.families = list(families)  # small talk comes from these (none: the plain list)
        self.identity = identity  # the sentence ``identity_first`` puts in the opening
        self.opening = opening  # the family the opening request is said in (its ``sources`` entry)
        self.acts: list[str] = []  # what each reply was: the inner user's act
        self.sources: list[str | None] = []  # the family that worded each reply
        self.noise: list[list[str]] = []  # the mutations that changed each reply

    @property
    def done(self) -> bool:
        return self.inner.done

    def reply(self, agent_text: str | None) -> str:
        before = len(self.inner.acts)
        text = self.inner.reply(agent_text)
        self.acts.append(self.inner.acts[-1] if len(self.inner.acts) > before else "unknown")
        sources = getattr(self.inner, "sources", None)
        self.sources.append(self.opening if agent_text is None else sources[-1] if sources else None)
        applied: list[str] = []
        self.noise.append(applied)
        if STOP in text:
            return text
        if agent_text is None:
            text = self._opening(text, applied)
        else:
            text = self._rewrite(text)
        return self._typed(text, self.acts[-1], applied)

    def _opening(self, text: str, applied: list[str]) -> str:
        if "small_talk" in self.mutations:
            extra = self.rng.choice(self.rng.choice(self.families)["unrelated"] if self.families else _CONTEXT)
            text = _join(extra, text, self.rng) if self.rng.random() < 0.5 else _join(text, extra, self.rng)
            applied.append("small_talk")
        if "identity_first" in self.mutations and self.identity:
            who = self.identity
            text = _join(who, text, self.rng) if self.rng.random() < 0.5 else _join(text, who, self.rng)
            applied.append("identity_first")
        return text

    def _typed(self, text: str, act: str, applied: list[str]) -> str:
        if "typos" in self.mutations and act in _TYPO_ACTS and self.rng.random() < 0.7:
            slipped = typo(text, self.rng, n=self.rng.choice([1, 2]), protected=self.protected)
            if slipped != text:
                text = slipped
                applied.append("typos")
        if "lowercase" in self.mutations:
            lowered = _outside(text, self.protected, str.lower)
            if lowered != text:
                text = lowered
                applied.append("lowercase")
        if "no_punctuation" in self.mutations:
            bare = unpunctuated(text, self.protected)
            if bare and bare != text:
                text = bare
                applied.append("no_punctuation")
        return text

    def _rewrite(self, text: str) -> str:
        """The plain scripted user's stock sentences, paraphrased (``paraphrase``)."""
        if "paraphrase" not in self.mutations:
            return text
        if text == "Yes, please go ahead.":
            return self.rng.choice(CONFIRMATIONS)
        if m := re.fullmatch(r"My email is (\S+@\S+?)\.", text):
            return self.rng.choice(_EMAIL).format(e=m.group(1))
        if m := re.fullmatch(r"My name is (\S+) (.+?) and my zip code is (\d+)\.", text):
            return self.rng.choice(_NAME).format(f=m.group(1), l=m.group(2), z=m.group(3))
        if m := re.fullmatch(r"Thanks! One more thing: (.*)", text, re.S):
            return self.rng.choice(_NEXT).format(r=m.group(1))
        return text


def protected_values(db: dict[str, Any], user_id: str, plan: Sequence[Any]) -> list[str]:
    """What the agent must read verbatim in this user's words: their name, email and address, the names
    and option values of the products in their orders, their payment methods, the addresses and the
    variants the plan's writes name (numbers, ids and emails are protected by shape anyway)."""
    user = db["users"][user_id]
    values = [user["email"], user["name"]["first_name"], user["name"]["last_name"],
              *(str(v) for v in user["address"].values())]
    products = {item["product_id"] for oid in user["orders"] if oid in db["orders"]
                for item in db["orders"][oid]["items"]}
    for pid in products:
        product = db["products"][pid]
        values.append(product["name"])
        for variant in product["variants"].values():
            for key, value in variant["options"].items():
                values += [key, str(value), f"{key} {value}"]
    for method in user["payment_methods"].values():
        values += [str(method.get("brand", "")), method["source"].replace("_", " ")]
    values += ["PayPal", "gift card", "credit card", "debit card"]
    for p in plan:
        for call in (p.write, p.changed_write):
            if call is not None:
                values += [str(v) for k, v in call[1].items() if isinstance(v, str) and k != "reason"]
        if p.change_text:
            values.append(p.change_text)
    return sorted({v for v in values if v and len(v) > 1})


def _identity_sentence(scenario: Any, rng: random.Random) -> str | None:
    """The sentence ``identity_first`` says in the opening: the identity the task knows, in a family's
    words (or the plain ones), of the lookup the scenario's gold starts with."""
    facts = parse_known_info(scenario.task.user_scenario.instructions.known_info)
    families = scenario.reply_families
    family = rng.choice(families) if families else None
    if scenario.lookup[0] == "find_user_id_by_email" and "email" in facts:
        template = rng.choice(family["email"] if family else _EMAIL)
        return template.format(email=facts["email"], e=facts["email"])
    if "first_name" in facts and "zip" in facts:
        template = rng.choice(family["name_zip"] if family else _NAME)
        values = {"first": facts["first_name"], "last": facts["last_name"], "zip": facts["zip"]}
        return template.format(**values, f=values["first"], l=values["last"], z=values["zip"])
    return None


def make_user(scenario: Any, rng: random.Random, db: dict[str, Any], max_turns: int) -> MutatingUser:
    """The user of ``scenario``: its ScriptedUser (replies drawn per reply from the scenario's families),
    wrapped with the scenario's mutations."""
    inner = ScriptedUser(scenario.task.user_scenario, max_turns=max_turns, seed=rng.randrange(2**31),
                         family=list(scenario.reply_families) or None, next_after_decline=True)
    identity = _identity_sentence(scenario, rng) if "identity_first" in scenario.mutations else None
    return MutatingUser(inner, scenario.mutations, rng, protected=protected_values(db, scenario.user_id, scenario.plan),
                        families=scenario.reply_families, identity=identity, opening=scenario.wording)
