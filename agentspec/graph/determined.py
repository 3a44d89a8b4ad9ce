"""Writes the customer's words determine completely: the graph states them without waiting for the model.

With ``policy.confirmation.determine``, before a step is decoded the graph asks whether one write an
open request needs is fully given by what the user said since the last settled request: every
identifier argument of a followed kind (``policy.targets.writes``) is exactly what ``mentioned``
finds in those words (the toolkit's verifier against its store, or the reader's slots), every
enumerated argument is the one value the grammar still offers (the reader's choice), and any other
identifier argument has one value seen in all (the authenticated user). When exactly one write is so
determined and the guard would state it (its dry run passes), that call is the step: the guard then
states it and asks the user to confirm it, as it would the model's own call.

What keeps this from writing what the user did not ask for:

- Only writes an open request scopes (``understanding.requests``), never the every-tool fallback of a
  message the reader found no request in; and only one whose dry run passes: two are the model's
  choice (a "change" of an item reads as an exchange and a modification; the order's status lets one
  of them pass).
- A list argument is determined only by what the words name: one id, or several when it is the only
  list of the tool (a return of two described items). An exchange of several items pairs old and new
  ids by position: of the pairings of the ids named (as many old items as new ones, in every order),
  the one whose dry run passes (the store checks that each new item is a variant of the old one in
  its place), when exactly one does; when several do (two items of one product, each to its own
  version), the one in the order the words gave (``mentions`` lists the n-th new id for the n-th old).
- Free text, an argument the words leave open (several values), or an argument nothing resolves:
  not determined. But an argument that takes one record, for which the words name a few ("my grill
  order" where two orders hold a Grill), is tried with each: the one whose dry run passes is meant,
  when exactly one does (the delivered order's address cannot change, the pending one's can); when
  several pass, the customer is asked which (``choice``); when all are refused, the first one's refusal.
- Two writes that both pass (the order's address and the profile's, for "can the order with the
  Tablet be delivered to ..."): the one with more arguments the words name, when one has; and none
  while a write with more of them is not callable yet (no order seen: the model reads first). Else
  the one the conversation is about (``focus``, highest first, when one alone ranks highest above
  0): "actually, the white one" after an exchange was stated is that exchange with the white one,
  not a modification of a pending order holding the same product. Of several writes that each leave
  one argument to the customer (the payment method), the one in focus is asked about.
- A call the user declined ("no" to its statement), refused, or already run since the last write is
  never determined again: the model hears the user instead.

Nothing is written here: the guard's confirmation still comes first.

When no write is so determined, ``Determined`` says what is known instead (``graph.writing`` acts on
it): the candidates the dry run refused, when it refused every one; or the one argument the words
leave open (a followed kind no lookup reads, such as the payment method, or an enumerated argument
the words chose no value of, such as a cancel's reason) and the candidates of its offered values (at
most ``_MAX_OPEN``, each dry-run) that would be stated. A candidate whose open argument's every value
is refused alike counts as refused.

The hand-off is determined the same way (``determined_handoff``): when everything the customer has
asked for is served by the hand-off tool alone ("I want to file a complaint about the delivery
driver and talk to a human manager"), the tool's one text argument is the request in their words
(``messages.handoff_summary``, e.g. "User mei_patel_7272 asks: ...", the summary the training data
writes). The expert otherwise read
orders for eleven turns before it handed the customer over.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentspec.decoding.schema import grounded_parameters, identifier_kind
from agentspec.decoding.grounding import Grounding
from agentspec.graph.state import CallDict
from agentspec.toolkit import Tool

__all__ = ["Determined", "determined_handoff", "determined_write"]

_MAX_PAIRED = 3  # items of one swap the graph pairs itself (3! dry runs at most)
_MAX_OPEN = 4  # offered values of an argument the words leave open that the graph dry-runs each


@dataclass
class Determined:
    """What the words determine: the one ``call`` the guard would state, or else the candidate writes
    whose dry run refused them (``refused``: ``(call, error)``), when every candidate was so refused; or,
    when the words give every argument of one write but one, that argument and the candidates (one per
    value of it) the guard would state (``choice``): the customer is to choose."""

    call: CallDict | None = None
    refused: list[tuple[CallDict, str]] = field(default_factory=list)
    choice: tuple[str, list[CallDict]] | None = None  # the one open argument, and the candidates that pass


def determined_write(tools: list[Tool], asked_for: set[str], kinds: list[str], texts: Callable[[str], list[str]],
                     seen: Mapping[str, list[str]], grounding: Grounding, mentioned: Callable[..., list[str]],
                     judge: Callable[[CallDict], tuple[bool, str | None]],
                     looked_up: Collection[str] = (), focus: Callable[[CallDict], int] | None = None) -> Determined:
    """The one write among ``tools`` (already narrowed by the guard's rules) in ``asked_for`` that the user's
    words determine and the guard would state; else the refusals of the candidates. ``texts(tool)``: the
    messages that speak to that tool's request (from the one that asked for it on).

    ``mentioned(tool, kind, texts, candidates, argument, seen)`` is ``AgentDeps.mentioned``; ``judge(call)``
    says whether the guard would state it (the user's own data, not a repeat, its dry run passes, not
    declined) and the dry run's error when that refused it; ``grounding`` is what this step's grammar
    offers (every determined value must be one of it). A candidate whose one open argument the words
    leave to a few offered values (the payment method not said yet) counts as refused only when every
    value is refused with the same error: which one the customer picks cannot change the answer. An
    argument of a kind lookups read (``looked_up``: ``policy.targets.lookups``, an order) is never left
    open: a record the conversation has not shown may be the one meant. ``focus(call)`` ranks writes
    that all pass by how much the conversation is about them (module docstring).
    """
    calls, groups, unseen = [], [], []
    for tool in tools:
        if tool.name not in asked_for:
            continue
        if grounded_parameters(tool, grounding) is None:
            unseen.append(tool)  # not callable yet (no order seen): judged once it is
            continue
        said = texts(tool.name)
        if not said:
            continue
        found = _determined_arguments(tool, kinds, said, seen, grounding, mentioned, looked_up)
        if found is None:
            continue
        arguments, open_argument, named = found
        given = {name: value for name, value in arguments.items() if name != open_argument}
        paired = [{"name": tool.name, "arguments": p} for p in _pairings(given)]
        if open_argument is None:
            calls += paired
        else:  # one candidate per value of the open argument, the arguments in the tool's order
            groups += [(open_argument, [{"name": tool.name,
                                         "arguments": {name: c["arguments"].get(name, value) for name in arguments}}
                                        for value in arguments[open_argument]], named) for c in paired]
    # "Can the order with the Tablet be delivered to 187 Broadway ...": the order's address and the
    # profile's are both given; the write with more arguments the words name (the order too) is meant,
    # whether or not it can be done (a processed order's address is refused, not swapped for the
    # profile's). Before the order is seen, the profile's address is all there is: wait for the read.
    by_name = {t.name: _named_count(t, kinds) for t in tools}
    # An argument left open names nothing: a write the words give in full, or whose one open argument
    # they name several records for, outranks those.
    named_groups = [group[0] for _, group, named in groups if named]
    most = max((by_name[c["name"]] for c in [*calls, *named_groups] or [g[0] for _, g, _ in groups]), default=0)
    if any(by_name[t.name] > most for t in unseen):
        return Determined()
    # "Change the Running Shoes ... for the white ones" reads as an exchange and as a modification:
    # the order's status lets only one of them pass its dry run.
    verdicts = [(c, judge(c)) for c in calls if by_name[c["name"]] == most]
    passing = _as_paired(c for c, (stateable, _) in verdicts if stateable)
    if len(passing) > 1 and focus is not None:
        passing = _most_in_focus(passing, focus)
    if len(passing) == 1:
        return Determined(call=passing[0])
    if passing or any(error is None for _, (_, error) in verdicts):
        return Determined()
    refused = [(c, str(error)) for c, (_, error) in verdicts]
    choices, meant = [], []
    for argument, group, named in ((a, g, n) for a, g, n in groups if by_name[g[0]["name"]] == most):
        judged = [(c, judge(c)) for c in group]
        stateable = _as_paired(c for c, (ok, _) in judged if ok)
        if named and len(stateable) == 1:
            meant += stateable  # "my grill order": of the two orders with a Grill, the one it can be done for
            continue
        if stateable:
            choices.append((argument, stateable))
            continue
        errors = [error for _, (_, error) in judged]
        if None in errors or (len(set(errors)) != 1 and not named):
            return Determined()  # refused for different reasons, or declined: the model hears the customer
        refused.append((group[0], str(errors[0])))  # the records named: each refused (its id in its error)
    meant, choices = _as_paired(meant), _distinct_choices(choices)
    if len(choices) > 1 and focus is not None:  # the payment still to say, of the write the graph asked about
        ranked = _most_in_focus([candidates[0] for _, candidates in choices], focus)
        choices = [choice for choice in choices if choice[1][0] in ranked]
    if meant or choices:
        if len(meant) == 1 and not choices and not verdicts:
            return Determined(call=meant[0])
        return Determined(choice=choices[0]) if len(choices) == 1 and not meant and not verdicts else Determined()
    return Determined(refused=refused)


def _unpaired(call: CallDict) -> str:
    """``call`` with its lists as sets: the same for every pairing of its ids (``_pairings``)."""
    arguments = {k: sorted(map(str, v)) if isinstance(v, list) else v for k, v in call["arguments"].items()}
    return json.dumps([call["name"], arguments], sort_keys=True, default=str)


def _as_paired(calls: Iterable[CallDict]) -> list[CallDict]:
    """``calls`` without those that differ from an earlier one only in how their lists pair up:
    ``_pairings`` lists the pairing in the order the words gave first."""
    kept: dict[str, CallDict] = {}
    for call in calls:
        kept.setdefault(_unpaired(call), call)
    return list(kept.values())


def _distinct_choices(choices: list[tuple[str, list[CallDict]]]) -> list[tuple[str, list[CallDict]]]:
    """``choices`` without those whose candidates differ from an earlier one's only in their pairing."""
    kept: dict[str, tuple[str, list[CallDict]]] = {}
    for argument, candidates in choices:
        kept.setdefault(json.dumps([argument, sorted(map(_unpaired, candidates))]), (argument, candidates))
    return list(kept.values())


def _most_in_focus(calls: list[CallDict], focus: Callable[[CallDict], int]) -> list[CallDict]:
    """The one call of ``calls`` that ``focus`` ranks highest, above 0; else all of them."""
    ranks = {index: focus(call) for index, call in enumerate(calls)}
    best = max(ranks.values())
    top = [call for index, call in enumerate(calls) if ranks[index] == best]
    return top if best > 0 and len(top) == 1 else calls


def _named_count(tool: Tool, kinds: list[str]) -> int:
    """How many arguments of ``tool`` are of a kind the user's words name (``policy.targets.writes``)."""
    return sum(identifier_kind(schema) in kinds for schema in tool.parameters.get("properties", {}).values())


def _determined_arguments(tool: Tool, kinds: list[str], texts: list[str], seen: Mapping[str, list[str]],
                          grounding: Grounding, mentioned: Callable[..., list[str]],
                          looked_up: Collection[str]) -> tuple[dict[str, Any], str | None, bool] | None:
    """The arguments the words give ``tool``, the one argument they leave open, if any, and whether the
    words named its values. Its value there is a list: the offered values, at most ``_MAX_OPEN``, of a
    followed kind, not ``looked_up``, the words name nothing of, or of an enum they chose none of; or the few (at most ``_MAX_OPEN``) records
    the words name for one argument that takes one ("my grill order" where two orders hold a Grill).
    None when they leave more open, or anything else."""
    offered = grounded_parameters(tool, grounding)  # the grammar's view: values seen, less those barred
    if offered is None:
        return None
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    lists = sum(1 for schema in properties.values() if isinstance(schema, dict) and schema.get("type") == "array")
    arguments: dict[str, Any] = {}
    open_argument, named = None, False
    for argument, schema in properties.items():
        allowed = offered.get("properties", {}).get(argument)
        if not isinstance(schema, dict) or not isinstance(allowed, dict):
            return None
        is_list = schema.get("type") == "array"
        offered_values = _choices(allowed.get("items") if is_list else allowed)
        kind = identifier_kind(schema)
        if kind in kinds:
            values = mentioned(tool.name, kind, texts, sorted(seen.get(kind, ())), argument, dict(seen))
        elif offered_values:  # an enum the guard narrowed, or an identifier of a kind nobody names (the user)
            values = offered_values
        else:
            return None  # free text: the model writes it
        if not values and kind in kinds and kind not in looked_up and not is_list and open_argument is None \
                and 0 < len(offered_values) <= _MAX_OPEN:
            arguments[argument], open_argument, named = list(offered_values), argument, False
            continue
        if not values or not set(values) <= set(offered_values):
            return None
        if _open_enum(schema, values) and open_argument is None:
            arguments[argument], open_argument, named = list(values), argument, False
            continue
        if not is_list and kind in kinds and open_argument is None and 1 < len(values) <= _MAX_OPEN:
            arguments[argument], open_argument, named = list(dict.fromkeys(values)), argument, True
            continue
        # Several ids only from the customer's words (the items they described), never "every one seen";
        # in a tool of two lists, as many in each (``_pairings`` orders the second).
        if is_list and (len(values) == 1 or (kind in kinds and lists <= 2 and len(values) <= _MAX_PAIRED)):
            arguments[argument] = list(dict.fromkeys(values))
        elif not is_list and len(values) == 1:
            arguments[argument] = values[0]
        else:
            return None
    return arguments, open_argument, named


def _open_enum(schema: Mapping[str, Any], values: list[Any]) -> bool:
    """Whether an enumerated argument is left open: the words chose none of its few (<= ``_MAX_OPEN``)
    offered values (a cancel's reason not said yet: the customer is asked, never the model's guess)."""
    return isinstance(schema.get("enum"), list) and schema.get("type") != "array" and 1 < len(values) <= _MAX_OPEN


def _pairings(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """``arguments`` as is, or, with two lists of ids (old items, new items), one candidate per choice of
    as many of the first as the second has (the words may name an item only to say which order: "the
    order with the Backpack and the Vacuum Cleaner ... trade the Vacuum Cleaner") and per order of the
    second; the dry run keeps the pairing that can be done. A second list longer than the first pairs
    nothing (the model's call)."""
    lists = [name for name, value in arguments.items() if isinstance(value, list)]
    if len(lists) < 2:
        return [arguments]
    first, second = (arguments[name] for name in lists)
    if len(first) < len(second):
        return []
    return [{**arguments, lists[0]: list(chosen), lists[1]: list(ranked)}
            for chosen in itertools.combinations(first, len(second))
            for ranked in dict.fromkeys(itertools.permutations(second))]


def _choices(schema: Any) -> list[Any]:
    """The values an argument's offered schema enumerates (a grounded id's seen values, a narrowed enum)."""
    if isinstance(schema, dict):
        if isinstance(schema.get("enum"), list):
            return list(schema["enum"])
        if "const" in schema:
            return [schema["const"]]
    return []


def determined_handoff(tool: Tool | None, requests: list[str], scope: Mapping[str, list[str]], texts: list[str] | None,
                       user: str, requests_in: Callable[[str], list[str]], summary: str) -> CallDict | None:
    """The hand-off ``tool`` (when offered: None otherwise) with the customer's request as its one text
    argument (``summary`` with ``{user}`` and ``{request}`` filled), when every one of ``requests`` is
    served by that tool alone (``scope``: request -> tools) and one of ``texts`` (the user's messages
    since the last settled request) asks for it (``requests_in``)."""
    if tool is None or not requests or not all(scope.get(r) == [tool.name] for r in requests):
        return None
    properties, required = tool.parameters.get("properties", {}), tool.parameters.get("required", [])
    if len(required) != 1 or properties.get(required[0], {}).get("type") != "string":
        return None
    asking = [t for t in texts or [] if any(scope.get(r) == [tool.name] for r in requests_in(t))]
    if not asking:
        return None
    return {"name": tool.name, "arguments": {required[0]: summary.format(user=user, request=asking[0])}}
