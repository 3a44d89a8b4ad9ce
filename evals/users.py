"""User simulators: they play the customer from a task's ``user_scenario`` and nothing else.

A simulator is built from a ``UserScenario`` alone (passing a whole ``Task`` is a ``TypeError``), so it
cannot see the gold actions or the facts being scored. ``reply(None)`` gives the opening message;
``reply(agent_text)`` answers an agent message. A reply containing ``STOP`` ("###STOP###") ends the
episode; ``done`` is then True.

``ScriptedUser`` (deterministic, no model). It reads three things written by ``generate``:
``known_info`` phrases "email is X", "name is A B", "zip code is Z", "order id is #W.." / "order ids
are #W.. and #W.."; ``unknown_info`` sentences "You do not remember <thing>."; and the requests, the
``- `` lines of ``task_instructions`` (first person, in order). Protocol, first matching rule wins,
on the agent message lowercased:

0. opening: ``reason_for_call`` verbatim. Each reply counts a turn; on turn ``max_turns`` it sends
   "I have to go now. ###STOP###" whatever the agent said.
1. transfer ("being transferred", "transferring you", "transferred you", "will be transferred",
   "has been transferred") -> "Thank you, I'll wait. ###STOP###".
1b. after an opening that asked for nothing (one of ``_hard.VAGUE_OPENINGS``: ``eval generate
   --style hard`` opens so half the time), unless the agent asks for identity (rule 3): the first
   request, in full.
2. completion (``has/have been/was/were [successfully] <cancelled|modified|updated|changed|returned|
   exchanged|processed|submitted|requested>``, "successfully", "is now", "are now", "all set",
   "completed"): the current request is done; the next request is stated ("Thanks! One more thing: <r>")
   or, when none is left, "Thank you, that's all I needed. ###STOP###".
3. identity ("email", "zip" or "name" with a question mark or "please provide"), when identity was not
   given yet or the agent says it was not found: the email if known ("My email is X."), else name and
   zip ("My name is A B and my zip code is Z."); asked for the one it lacks, it says it does not
   remember it and gives the other.
4. confirmation (a question mark plus confirm / proceed / "would you like" / "shall i" / "should i" /
   "do you want" / "go ahead" / "yes/no" / "is that correct" / "is this correct") -> "Yes, please go ahead.",
   unless the request's instruction line gives a twist for its confirmation (``evals._multi``): then,
   once, "Actually, I'd rather have the one <change> instead." or a no (that request is over).
5. refusal ("cannot", "can't", "unable to", "not able to", "not allowed", "not possible", "sorry, i")
   -> the request is settled as in rule 2 (the user accepts it).
3b. a request given in parts (``generate --piecemeal``: a ``PIECES`` line under its ``- `` line) and a
   question, not a statement to confirm (no "yes/no", "proceed", "confirm"), that asks for some of
   them (``_PIECE_QUESTIONS``: "which order", "which items", "which version", "why", "payment
   method", "address") -> those parts, one sentence each, worded as "state"; rule 7 then restates
   the request with every part, one sentence each.
6. a question about something in ``unknown_info`` (its thing, e.g. "order id", named in the message)
   -> "I'm sorry, I don't remember my <thing>." plus known order ids when asked for an order id.
7. anything else -> the current request restated: "To be clear: <request>".

``ScriptedUser(..., varied=True)`` (``--user varied``) follows the same protocol but words each reply
with a phrasing drawn by the episode's seed from lists of its own (not those the training data's
``MutatingUser`` uses, so the agent meets wording it was not trained on): trials of a task then differ
the way tau2's sampled users make them differ, while the facts given and the decisions taken stay
the same. The opening is still ``reason_for_call`` verbatim. A task whose persona is "wording: NAME"
(``eval generate --style family:NAME``) is answered in that wording family's sentences.
``ScriptedUser(..., family=[f1, f2, ...])`` (the training data's users) words each reply in a family
drawn for that reply by the seed, so one conversation mixes independent wording sources; ``sources``
names the family that worded each reply (None where no family did). ``next_after_decline=True``:
after declining a request while others remain, the next reply that would restate brings up the next
request as one more thing ("next"), the way a person goes on after "I won't make that change.
Anything else?". Both default to the behaviour above.

Not here: the LLM user (``_llm_user``), the agent, the episode loop (``harness``), judging anything.
"""
from __future__ import annotations

import random
import re
from typing import Any, Protocol, runtime_checkable

from agentspec.errors import AgentSpecError

from ._builders import PIECE_SEPARATOR, PIECES
from ._hard import VAGUE_OPENINGS
from ._multi import AT_CONFIRMATION
from .tasks import UserInstructions, UserScenario

__all__ = ["STOP", "UserSimulator", "ScriptedUser", "ScenarioError", "parse_known_info", "scenario_family"]


class ScenarioError(AgentSpecError, TypeError):
    """A task's user scenario this simulator cannot play (free-text instructions for the scripted user)."""

    code = "user_scenario"

STOP = "###STOP###"
_OTHER_STOPS = ("###TRANSFER###", "###OUT-OF-SCOPE###")


@runtime_checkable
class UserSimulator(Protocol):
    done: bool

    def reply(self, agent_text: str | None) -> str: ...


def _check_scenario(scenario: object, who: str) -> None:
    if not isinstance(scenario, UserScenario):
        raise TypeError(f"{who} takes a task's user_scenario (a UserScenario), not "
                        f"{type(scenario).__name__}: the simulated user must never see the evaluation "
                        "criteria; pass task.user_scenario")


def _instructions(scenario: object, who: str) -> UserInstructions:
    _check_scenario(scenario, who)
    assert isinstance(scenario, UserScenario)
    if not isinstance(scenario.instructions, UserInstructions):
        raise ScenarioError(f"{who} needs structured instructions (reason_for_call, known_info, ...), "
                            "not free text", hint="use the LLM user (--user llm) for free-text scenarios, or give "
                            "the task structured instructions")
    return scenario.instructions


def parse_known_info(known_info: str | None) -> dict[str, object]:
    """``{"email", "first_name", "last_name", "zip", "order_ids"}`` found in the generator's phrasing."""
    text = known_info or ""
    facts: dict[str, object] = {"order_ids": re.findall(r"#W\d+", text)}
    if m := re.search(r"email is\s+(\S+@\S+?)\.?(?=\s|$)", text, re.I):
        facts["email"] = m.group(1)
    if m := re.search(r"name is\s+([^.,]+?)(?=\s+and\b|[.,]|$)", text, re.I):
        first, _, last = m.group(1).strip().partition(" ")
        facts["first_name"], facts["last_name"] = first, last
    if m := re.search(r"zip code is\s+(\d+)", text, re.I):
        facts["zip"] = m.group(1)
    return facts


_TRANSFER = re.compile(r"being transferred|transferring you|transferred you|will be transferred|"
                       r"has been transferred")
_DONE = re.compile(r"\b(?:has|have) been (?:successfully )?(?:cancel+ed|modified|updated|changed|returned|"
                   r"exchanged|processed|submitted|requested)\b|\b(?:was|were) (?:successfully )?"
                   r"(?:cancel+ed|modified|updated|changed|returned|exchanged|submitted|requested)\b|"
                   r"successfully|\b(?:is|are) now\b|all set|completed")
_IDENTITY = re.compile(r"\bemail\b|\bzip\b|\bname\b")
_NOT_FOUND = re.compile(r"not find|couldn't find|could not find|not found|unable to find|no user")
_CONFIRM = re.compile(r"confirm|proceed|would you like|shall i|should i|do you want|go ahead|yes/no|"
                      r"is that correct|is this correct")
_REFUSAL = re.compile(r"cannot|can't|can not|unable to|not able to|not allowed|not possible|sorry, i")
_UNKNOWN = re.compile(r"do not (?:remember|know) (.+?)\.?$", re.I)
# What a question asks for, by the part of a piecemeal request that answers it (``generate --piecemeal``).
_PIECE_QUESTIONS = {
    "order": re.compile(r"which order|what order|order (?:id|number)|which of your orders"),
    "items": re.compile(r"which items?\b|what items?\b|which products?\b"),
    "version": re.compile(r"which version|instead\?|which (?:colou?r|size|model|option)|what (?:colou?r|size|model)"),
    "reason": re.compile(r"\bwhy\b|\breason\b"),
    "payment": re.compile(r"payment method|which (?:card|method)|\bpay (?:with|for)\b|receive the refund"),
    "address": re.compile(r"\baddress\b"),
}
_STATED = re.compile(r"yes/no|proceed|confirm")  # a statement to confirm, not a question for a part

# Phrasings of the varied user, the plain one's first; after it none is in train/_mutate.py's lists.
# Every "confirm" is an explicit yes.
_PHRASES: dict[str, tuple[str, ...]] = {
    "confirm": ("Yes, please go ahead.", "Yes, do it please.", "Correct, please go on.", "Okay, please do that."),
    "email": ("My email is {e}.", "The email on my account is {e}.", "Sure, the address is {e}."),
    "name": ("My name is {f} {l} and my zip code is {z}.", "It's {f} {l}, and the zip code is {z}.",
             "{f} {l}, zip code {z}."),
    "next": ("Thanks! One more thing: {r}", "Thank you. There is something else: {r}",
             "Good. Another thing: {r}"),
    "state": ("{r}", "Sure. {r}", "Here it is: {r}"),
    "restate": ("To be clear: {r}", "Let me repeat: {r}", "What I need is this: {r}"),
    "done": ("Thank you, that's all I needed.", "Great, that's everything. Thanks!", "Thanks, that was all."),
    "wait": ("Thank you, I'll wait.", "Okay, I'll wait for them.", "Alright, thanks, I'll hold."),
    "change_mind": ("Actually, I'd rather have the one {change} instead.", "Hmm, wait: can I get the one {change}?",
                    "On second thought, make it the one {change}, please."),
    "decline": ("No, please don't. I'd like to keep it as it is.", "No, leave it, I changed my mind.",
                "Actually no, don't do that."),
}


# The scripted user's acts and the wording family fields that say them (``evals/wording.py``).
_FAMILY_FIELDS = {"confirm": "yes", "email": "email", "name": "name_zip", "next": "next", "state": "state",
                  "restate": "restate", "done": "done", "wait": "wait", "change_mind": "change_mind", "decline": "no"}


def scenario_family(scenario: UserScenario) -> str | None:
    """The wording family a task's user speaks in: its persona "wording: NAME" (``eval generate --style``)."""
    match = re.match(r"wording: (\S+)", scenario.persona or "")
    return match.group(1) if match else None


class ScriptedUser:
    """The deterministic user of the module docstring; ``max_turns`` bounds its replies.

    With a wording ``family`` (``evals.wording.Family``; by default the one the task's persona names)
    every reply is worded by that family, drawn by the episode's seed; ``acts`` records what each reply
    was (confirm, email, name, next, state, restate, done, wait, stop, unknown, opening). ``family`` may
    also be a list of families: one is drawn per reply (``sources`` records which)."""

    def __init__(self, scenario: UserScenario, *, max_turns: int = 20, seed: int = 0, varied: bool = False,
                 family: Any = None, next_after_decline: bool = False) -> None:
        inst = _instructions(scenario, "ScriptedUser")
        if family is None and (name := scenario_family(scenario)) is not None:
            from .wording import load_family

            family = load_family(name)
        self.family = family
        families = list(family) if isinstance(family, (list, tuple)) else [] if family is None else [family]
        if isinstance(family, (list, tuple)) and not families:
            raise ValueError("ScriptedUser: an empty list of wording families; pass None for the plain phrasing")
        self.acts: list[str] = []
        self.sources: list[str | None] = []  # the family that worded each reply (None: no family's words)
        self._source: str | None = None
        self.next_after_decline = next_after_decline
        self._after_decline = False
        self._opening = inst.reason_for_call
        lines, self._pieces = _request_lines(inst.task_instructions)
        # "<request> When the agent asks you to confirm this, ..." (evals._multi): the twist at its confirmation.
        self._twists: list[tuple[str, str] | None] = []
        self._requests = []
        for line in lines:
            request, _, twist = line.partition(" " + AT_CONFIRMATION)
            self._requests.append(request)
            change = re.match(r"change your mind and ask for the one (.+) instead\.$", twist)
            self._twists.append(("change", change.group(1)) if change else ("decline", "") if twist else None)
        self._requests = self._requests or [inst.reason_for_call]
        self._twists = self._twists or [None]
        self._facts = parse_known_info(inst.known_info)
        self._unknown = [m.group(1).strip() for s in re.split(r"(?<=\.)\s+", inst.unknown_info or "")
                         if (m := _UNKNOWN.search(s.strip()))]
        self.max_turns = max_turns
        self.seed = seed
        self._rng = random.Random(seed) if varied or family is not None else None  # None: the first phrasing
        self.turns = 0
        self.current = 0  # index of the request being worked on
        self.identity_given = False
        vague = (*VAGUE_OPENINGS, *(v for f in families for v in f["vague"]))
        self.stated = self._opening not in vague  # False: the request comes when the agent asks
        self.done = False

    # -- the protocol ----------------------------------------------------------------------------

    def reply(self, agent_text: str | None) -> str:
        self._source = None
        text = self._respond(agent_text)
        self.sources.append(self._source)
        return text

    def _respond(self, agent_text: str | None) -> str:
        self.turns += 1
        after_decline, self._after_decline = self._after_decline, False
        if agent_text is None:
            self.acts.append("opening")
            return self._opening
        if self.turns >= self.max_turns:
            self.acts.append("stop")
            return self._stop("I have to go now.")
        t = agent_text.lower()
        question = "?" in t
        if _TRANSFER.search(t):
            return self._stop(self._say("wait"))
        asks_identity = (_IDENTITY.search(t) and (question or "please provide" in t)
                         and (not self.identity_given or _NOT_FOUND.search(t)))
        if not self.stated and not asks_identity:
            self.stated = True
            return self._say("state", r=self._requests[self.current])
        if _DONE.search(t):
            return self._settle()
        if asks_identity:
            return self._identity(t)
        if question and not _STATED.search(t) and (parts := self._parts_asked(t)):
            return self._say("state", r=parts)
        if question and _CONFIRM.search(t):
            twist = self._twists[self.current] if self.current < len(self._twists) else None
            if twist is not None:
                self._twists[self.current] = None  # once: the next confirmation is answered yes
                if twist[0] == "change":
                    return self._say("change_mind", change=twist[1])
                self.current += 1  # declined: that request is over
                said = self._say("decline")
                self._after_decline = self.next_after_decline and self.current < len(self._requests)
                return said if self.current < len(self._requests) else self._stop(said)
            return self._say("confirm")
        if _REFUSAL.search(t):
            return self._settle()
        if question and (answer := self._unknown_answer(t)):
            return answer
        if after_decline:  # "I won't make that change. Anything else?": the next request, as one more thing
            return self._say("next", r=self._requests[self.current])
        return self._say("restate", r=self._whole_request())

    # -- helpers -----------------------------------------------------------------------------------

    def _say(self, what: str, **values: str) -> str:
        self.acts.append(what)
        return self._word(what, **values)

    def _one_family(self) -> Any:
        """The family wording this reply: the one given, or one of the list drawn now (None: plain)."""
        family = self.family
        if isinstance(family, (list, tuple)):
            family = self._rng.choice(family)  # type: ignore[union-attr]
        if family is not None:
            self._source = family.name
        return family

    def _word(self, what: str, **values: str) -> str:
        family = self._one_family()
        if family is not None:
            options = family[_FAMILY_FIELDS[what]]
            fields = {"name": {"first": values.get("f", ""), "last": values.get("l", ""), "zip": values.get("z", "")},
                      "email": {"email": values.get("e", "")}}.get(what, values)
            return self._rng.choice(options).format(**fields)  # type: ignore[union-attr]
        options = _PHRASES[what]
        return (self._rng.choice(options) if self._rng else options[0]).format(**values)

    def _parts(self) -> dict[str, str]:
        """The parts of the current request ({} when it is said at once)."""
        return self._pieces[self.current] if self.current < len(self._pieces) else {}

    def _parts_asked(self, t: str) -> str | None:
        """The parts of the current piecemeal request the agent's question asks for, as the customer says
        them, one sentence each ("my order #W1. I don't need it anymore"); None when it asks for none."""
        asked = [value for key, value in self._parts().items() if _PIECE_QUESTIONS[key].search(t)]
        return ". ".join(asked) or None

    def _whole_request(self) -> str:
        """The current request, with every part of a piecemeal one: what a customer says asked again."""
        parts, request = self._parts(), self._requests[self.current]
        return " ".join([request, *(f"{part}." for part in parts.values())]) if parts else request

    def _stop(self, text: str) -> str:
        self.done = True
        return f"{text} {STOP}"

    def _settle(self) -> str:
        self.current += 1
        if self.current < len(self._requests):
            return self._say("next", r=self._requests[self.current])
        return self._stop(self._say("done"))

    def _identity(self, t: str) -> str:
        self.identity_given = True
        f = self._facts
        name = (self._word("name", f=str(f["first_name"]), l=str(f["last_name"]), z=str(f["zip"]))
                if "first_name" in f and "zip" in f else None)
        name_by = self._source
        email = self._word("email", e=str(f["email"])) if "email" in f else None
        if email and ("email" in t or not name):
            self.acts.append("email")
            return email
        self._source = name_by
        self.acts.append("name" if name else "unknown")
        if name and email is None and "email" in t and not re.search(r"\bzip\b|\bname\b", t):
            if self.family is not None:
                family = self._one_family()
                return f"{self._rng.choice(family['forgot']).format(thing='my email address')} {name}"  # type: ignore[union-attr]
            lowered = name[0].lower() + name[1:] if name.startswith("My ") else name  # "{f} {l}, ..." keeps its capital
            return f"I don't remember my email address, but {lowered}"
        if name:
            return name
        return "I'm sorry, I don't remember that. " + self._requests[self.current]

    def _unknown_answer(self, t: str) -> str | None:
        for thing in self._unknown:
            bare = re.sub(r"^(?:your|the) ", "", thing.lower())  # "your order id" -> "order id"
            words = bare.split()
            if bare in t or " ".join(words[:2]) in t or ("order id" in bare and "order number" in t):
                ids = self._facts["order_ids"]
                extra = f" I only know {' and '.join(ids)}." if ids and "order" in bare else ""
                mine = re.sub(r"\byour\b", "my", thing)
                self.acts.append("unknown")
                if self.family is not None:
                    return self._rng.choice(self._one_family()["forgot"]).format(thing=mine) + extra  # type: ignore[union-attr]
                return f"I'm sorry, I don't remember {mine}.{extra}"
        if ("order id" in t or "order number" in t) and self._facts["order_ids"]:
            self.acts.append("unknown")  # one act per reply: an answer about what it knows of its orders
            return f"It's {' and '.join(self._facts['order_ids'])}."
        return None


def _request_lines(task_instructions: str) -> tuple[list[str], list[dict[str, str]]]:
    """The ``- `` request lines and, for each, the parts its ``PIECES`` line lists ({} when none)."""
    lines: list[str] = []
    pieces: list[dict[str, str]] = []
    for line in task_instructions.splitlines():
        if line.startswith("- "):
            lines.append(line[2:].strip())
            pieces.append({})
        elif line.strip().startswith(PIECES) and pieces:
            for part in line.strip()[len(PIECES):].split(PIECE_SEPARATOR):
                key, _, value = part.partition(" = ")
                if key.strip() in _PIECE_QUESTIONS and value.strip():
                    pieces[-1][key.strip()] = value.strip()
    return lines, pieces
