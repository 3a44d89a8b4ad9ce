"""Wording families: how customers say things, as data, one YAML file per independent author.

A family is every sentence a simulated customer needs, per dialogue act, written by one author in
their own voice: the requests of each kind (with placeholders the generators fill from the store),
the answers to the agent's questions (identity, yes, no, unsure), the small talk around them. The
generators of training data and of evaluation suites draw each act's sentence from a family; the
reader (``agentspec.train.reader``) learns from families' sentences with labels known by
construction. Families are independent sources: none is a rewording of another.

``heldout: true`` marks a family kept out of training and development entirely: the training
generators refuse it (``training_families``), and only the evaluation reports on it.

Files live in ``evals/wordings/NAME.yaml`` (packaged). ``load_family(name_or_path)`` reads and
validates one: every field of ``FIELDS`` present (an optional one may be left out), at least its
minimum number of templates, each template using only the placeholders its field allows and every
placeholder it requires. A bad file is a ``WordingError`` naming the field, the template and the fix.

Placeholders (``str.format`` fields; the generator supplies the values):

- ``{o}`` the order as said (itself a ``order_id``/``order_with`` template), ``{why}`` a cancel
  reason (a ``reason_not_needed``/``reason_by_mistake`` phrase), ``{where}`` an address (a ``where``
  template), ``{method}`` a payment method ("PayPal account", "Visa credit card ending in 1234",
  "gift card"), ``{pay}`` the same with "my" before it, ``{parts}`` one or two swaps (``swap``
  templates joined), ``{things}`` returned items ("the Pet Bed and the blue Jacket"), ``{items}`` an
  order's product names ("Lamp and Mug"), ``{id}`` an order id ("#W1234567"), ``{item}`` one item,
  ``{change}`` what changes (a ``change_bare``/``change_keyed`` prefix + options: "in grey"),
  ``{street}`` address line 1 (and line 2 when there is one), ``{city}``, ``{state}`` (two letters),
  ``{zip}``, ``{country}``, ``{email}``, ``{first}``, ``{last}``, ``{r}`` a whole request sentence,
  ``{thing}`` what the customer does not remember ("my email address"), ``{product}`` a catalogue
  product's name ("Hiking Boots").
"""
from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from agentspec.errors import AgentSpecError

__all__ = ["FIELDS", "Family", "WordingError", "family_names", "load_family", "training_families"]


class WordingError(AgentSpecError):
    code = "wording"


@dataclass(frozen=True)
class Field:
    """One act: its placeholders (required ones must appear in every template) and minimum count."""

    allowed: frozenset[str]
    required: frozenset[str]
    minimum: int
    doc: str
    optional: bool = False  # a family may leave the field out (its generators then skip that act)


def _f(doc: str, minimum: int, required: str = "", optional: str = "", field_optional: bool = False) -> Field:
    req = frozenset(required.split())
    return Field(req | frozenset(optional.split()), req, minimum, doc, field_optional)


FIELDS: dict[str, Field] = {
    # -- requests (one sentence or two; first person) ------------------------------------------------
    "cancel": _f("cancel a pending order, saying why", 8, "o why"),
    "reason_not_needed": _f("why: the customer no longer needs it", 8),
    "reason_by_mistake": _f("why: the customer ordered it by mistake", 8),
    "address": _f("ship one pending order to a new address", 8, "o where"),
    "user_address": _f("change the default address on the account (not one order's)", 6, "where"),
    "where": _f("an address as dictated; {country} optional", 6, "street city state zip", "country"),
    "payment": _f("pay a pending order with another payment method", 8, "o method"),
    "modify": _f("change items of a pending order (not shipped yet) for other variants; difference on {pay}", 8,
                 "o parts pay"),
    "exchange": _f("exchange items of a delivered order for other variants; difference on {pay}", 8,
                   "o parts pay"),
    "returns": _f("return items of a delivered order, refund to {pay} (a method, no 'my'), ask the amount", 8,
                  "o things pay"),
    "status": _f("ask where an order is / its status / tracking, nothing else", 6, "o"),
    "product_question": _f("ask about a catalogue product (options, prices, availability), no order", 8, "product",
                           field_optional=True),
    "order_with": _f("an order named by its products", 5, "items"),
    "order_id": _f("an order named by its id", 4, "id"),
    "swap": _f("one item swapped for another variant", 4, "item change"),
    "change_bare": _f("prefix of a change said by option values ('in ', 'but in ')", 3),
    "change_keyed": _f("prefix of a change said with option names ('with ', 'only with ')", 3),
    "forbidden_cancel": _f("cancel order {id} that has already shipped/arrived, if still possible", 3, "id"),
    "forbidden_address": _f("redirect order {id} (already shipped) to {street}, {city}", 3, "id street city"),
    "forbidden_return": _f("return the whole order {id} (not delivered yet) for a refund", 3, "id"),
    "forbidden_foreign": _f("cancel order {id} that belongs to someone else (friend, relative)", 3, "id"),
    "transfers": _f("ask for a human/person for something the agent cannot do (complaint, fraud, ...)", 6),
    "vague": _f("an opening that asks for nothing specific yet ('hi, I need help with an order')", 8),
    # requests with no details at all: the details come when the agent asks
    "bare_cancel": _f("ask to cancel an order, no details ('I need to cancel an order')", 6),
    "bare_return": _f("ask to return something, no details", 6),
    "bare_exchange": _f("ask to exchange something received for another size/color/version, no details", 6),
    "bare_modify": _f("ask to change items of an order not shipped yet, no details", 6),
    "bare_address": _f("ask to change a shipping address, no details", 6),
    "bare_payment": _f("ask to change how an order is paid, no details", 6),
    "bare_status": _f("ask about an order's status or tracking, no details", 6),
    "bare_human": _f("ask for a human agent, no reason given ('can I talk to a real person?')", 6),
    "bare_user_address": _f("ask to change the address on the account (not one order's), no address given yet", 6,
                            field_optional=True),
    # requests about one item, said loosely (a problem, then the wish), no order named
    "loose_exchange": _f("exchange {item} (received) for another variant, said loosely ('the {item} is too small, "
                         "can I get a bigger one?')", 6, "item"),
    "loose_return": _f("return {item} (received), said loosely", 6, "item"),
    "loose_modify": _f("change {item} of an order not shipped yet to another variant, said loosely", 6, "item"),
    # the same said briefly: the items and the variants wanted, no order, no problem, no payment (optional)
    "brief_exchange": _f("exchange received items for other variants, briefly: {parts} only ('swap {parts}')", 12,
                         "parts", field_optional=True),
    "brief_modify": _f("change items of an order not shipped yet to other variants, briefly: {parts} only", 12,
                       "parts", field_optional=True),
    # -- answers -------------------------------------------------------------------------------------
    "email": _f("give the email address", 8, "email"),
    "name_zip": _f("give first name, last name and zip code", 10, "first last zip"),
    "forgot": _f("say one does not remember {thing}", 4, "thing"),
    "yes": _f("an explicit yes to 'Shall I proceed? (yes/no)': go ahead, no conditions", 40),
    "no": _f("an explicit no to the same question: do not do it", 25),
    "unsure": _f("neither yes nor no: a question, a condition, a hesitation, 'yes but ...'", 30),
    "unrelated": _f("text that answers nothing (thanks, small talk, off-topic)", 12),
    "change_mind": _f("at the confirmation, ask for another variant instead", 6, "change"),
    "next": _f("after a request is done, bring up the next request {r}", 8, "r"),
    "state": _f("say the request {r} when asked what they need", 5, "r"),
    "restate": _f("say the request {r} again, the agent did not get it", 6, "r"),
    "done": _f("closing: nothing more needed, thanks", 8),
    "wait": _f("told they are transferred to a person: agree to wait", 4),
    "not_cancel": _f("'I don't want to cancel anything' (negating a cancel)", 4),
    "not_return": _f("negating a return", 4),
    "not_exchange": _f("negating an exchange", 4),
    "not_modify": _f("negating a change of items", 4),
    "not_address": _f("negating an address change", 4),
    "greetings": _f("a greeting put before an opening request ('Hi there!')", 6),
    # -- what is worth remembering (optional: a family without them gives no such examples) -----------
    "prefer_payment": _f("a lasting preference: future refunds/charges to {method} (no order named)", 10, "method",
                         field_optional=True),
    "mention_payment": _f("mentions {method} without a preference or a request (a past fact, a question)", 8,
                          "method", field_optional=True),
    "not_prefer_payment": _f("where refunds should go, but no lasting preference: negated or withdrawn, undecided, "
                             "hypothetical or asked, only this once", 10, "method", field_optional=True),
    # -- replies to a stated write beyond the plain ones (optional) -----------------------------------
    "yes_restated": _f("an explicit yes to 'Shall I proceed? (yes/no)' that restates the action or adds a harmless "
                       "comment ('yes cancel it, ordered it by mistake'), no condition, question or change", 12,
                       field_optional=True),
    "resembles_yes": _f("looks like a yes but is none: a yes word in a question (with or without a question mark), "
                        "about something else, conditional, taken back, quoted from someone else, negated, "
                        "sarcastic or hesitant", 20, field_optional=True),
}


@dataclass(frozen=True)
class Family:
    """A validated family: ``name``, ``heldout``, ``author`` (a one-line note) and ``acts[field]``."""

    name: str
    heldout: bool
    author: str
    acts: dict[str, tuple[str, ...]]

    def __getitem__(self, act: str) -> tuple[str, ...]:
        return self.acts[act]

    def has(self, act: str) -> bool:
        """Whether the family words ``act`` (an optional field may be left out)."""
        return bool(self.acts.get(act))


def _wordings_dir() -> Path:
    return Path(str(files("agentspec.evals"))) / "wordings"


def family_names() -> list[str]:
    """Every packaged family, sorted."""
    return sorted(p.stem for p in _wordings_dir().glob("*.yaml"))


def training_families() -> list[str]:
    """The packaged families that training may use (not ``heldout``)."""
    return [name for name in family_names() if not load_family(name).heldout]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["the file must be a mapping of field -> list of templates"]
    problems = []
    for key in sorted(set(data) - set(FIELDS) - {"name", "heldout", "author"}):
        problems.append(f"{key}: unknown field (fields: {', '.join(FIELDS)})")
    for key, spec in FIELDS.items():
        templates = data.get(key)
        if templates is None and spec.optional:
            continue
        if not isinstance(templates, list) or not all(isinstance(t, str) and t.strip() for t in templates):
            problems.append(f"{key}: missing or not a list of non-empty strings ({spec.doc})")
            continue
        if len(set(templates)) < spec.minimum:
            problems.append(f"{key}: {len(set(templates))} distinct templates, at least {spec.minimum} needed")
        for template in templates:
            try:
                used = _placeholders(template)
            except ValueError as exc:
                problems.append(f"{key}: {template!r}: {exc} (write a literal brace as {{{{ or }}}})")
                continue
            if extra := used - spec.allowed:
                problems.append(f"{key}: {template!r} uses {sorted(extra)}; allowed: {sorted(spec.allowed) or 'none'}")
            if missing := spec.required - used:
                problems.append(f"{key}: {template!r} lacks {sorted(missing)}")
    return problems


def load_family(name_or_path: str | Path) -> Family:
    """The family named (packaged) or at a path, validated (``WordingError`` lists every problem). A file
    is parsed once per content version (its path, size and modification time): suite generation and
    the scripted users ask for the same family hundreds of times."""
    path = Path(name_or_path)
    if not path.suffix:
        path = _wordings_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise WordingError(f"no wording family {name_or_path!r} ({path} does not exist)",
                           hint=f"use one of {', '.join(family_names()) or '(none packaged)'} or a YAML path")
    stat = path.stat()
    return _parsed(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _parsed(resolved: str, size: int, mtime_ns: int) -> Family:
    """The family in file ``resolved`` (``size`` and ``mtime_ns`` key the cache, not read here)."""
    path = Path(resolved)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WordingError(f"{path} is not valid YAML: {exc}", hint="fix the syntax; quote templates with ':'") from exc
    if isinstance(data, dict):  # YAML 1.1 reads a bare `yes:`/`no:` key as a boolean
        data = {({True: "yes", False: "no"}.get(k, k) if isinstance(k, bool) else k): v for k, v in data.items()}
    problems = _problems(data)
    if problems:
        raise WordingError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems),
                           hint="see agentspec.evals.wording.FIELDS for each field's placeholders")
    acts = {key: tuple(dict.fromkeys(data[key])) for key in FIELDS if data.get(key) is not None}
    return Family(str(data.get("name") or path.stem), bool(data.get("heldout", False)), str(data.get("author", "")),
                  acts)
