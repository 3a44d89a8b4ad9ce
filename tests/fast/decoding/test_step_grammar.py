"""The step grammar (JSON schema), step parsing and the grammar cache, on retail-like tools."""
from __future__ import annotations

import json
from typing import Annotated, Literal, Optional

import jsonschema
import pytest

from agentspec.decoding import (
    GrammarCache,
    Grounding,
    Step,
    cached_step_schema,
    parse_step,
    step_key,
    step_schema,
    tool_signatures,
    tools_prompt,
)
from agentspec.decoding.schema import with_choices, without_values
from agentspec.errors import EmptyGrammarError, MalformedStepError
from agentspec.toolkit import Tool
from agentspec.tools.types import Identifier
from agentspec.tools.retail import RETAIL_SHAPES

OrderId = Annotated[str, Identifier("order")]
ItemId = Annotated[str, Identifier("item")]


def find_user_id_by_email(email: str) -> str:
    """Find a user id by email."""
    return "sara_doe_496"


def get_order_details(order_id: OrderId) -> str:
    """Get the details of an order."""
    return "{}"


def return_items(order_id: OrderId, item_ids: list[ItemId], note: Optional[str] = None) -> str:
    """Return delivered items."""
    return "ok"


def search_orders(query: str, order_id: Annotated[Optional[str], Identifier("order")] = None) -> str:
    """Search orders, optionally within one."""
    return "[]"


TOOLS = [Tool.from_function(f) for f in (find_user_id_by_email, get_order_details, return_items, search_orders)]


def grounding() -> Grounding:
    g = Grounding.from_shapes(RETAIL_SHAPES)
    g.observe_text("my order is #W1234567, the lamp is 1234567890")
    return g


def ok(schema: dict, step: dict) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(step)


def call(name: str, **arguments) -> dict:
    return {"calls": [{"name": name, "arguments": arguments}]}


def test_good_steps_pass_and_bad_ones_fail():
    schema = step_schema(TOOLS, grounding())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert ok(schema, {"reply": "Could you give me your email?"})
    assert ok(schema, call("find_user_id_by_email", email="a@b.c"))
    assert ok(schema, call("get_order_details", order_id="#W1234567"))
    assert ok(schema, call("return_items", order_id="#W1234567", item_ids=["1234567890"]))
    assert ok(schema, call("search_orders", query="lamp", order_id="#W1234567"))

    assert not ok(schema, {"reply": ""})
    assert not ok(schema, {"reply": "x", "calls": []})
    assert not ok(schema, call("delete_everything"))
    assert not ok(schema, call("find_user_id_by_email", email="a@b.c", admin=True))  # extra argument
    assert not ok(schema, call("get_order_details"))  # missing required argument
    assert not ok(schema, call("get_order_details", order_id="#W7654321"))  # ungrounded
    assert not ok(schema, call("return_items", order_id="#W1234567", item_ids=["9999999999"]))
    assert not ok(schema, {"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W1234567"}, "x": 1}]})


def test_key_order_is_stable_name_before_arguments_in_signature_order():
    schema = step_schema(TOOLS, grounding())
    calls_branch = schema["anyOf"][1]["properties"]["calls"]
    by_name = {c["properties"]["name"]["const"]: c for c in calls_branch["items"]["anyOf"]}
    assert list(by_name) == ["find_user_id_by_email", "get_order_details", "return_items", "search_orders"]
    for c in by_name.values():
        assert list(c["properties"]) == ["name", "arguments"]
        assert c["additionalProperties"] is False and c["required"] == ["name", "arguments"]
    assert list(by_name["return_items"]["properties"]["arguments"]["properties"]) == ["order_id", "item_ids", "note"]
    assert schema == step_schema(TOOLS, grounding())  # deterministic


def test_tool_omitted_when_required_identifier_unseen_and_optional_one_dropped():
    schema = step_schema(TOOLS, Grounding.from_shapes(RETAIL_SHAPES))
    calls_branch = schema["anyOf"][1]["properties"]["calls"]
    names = [c["properties"]["name"]["const"] for c in calls_branch["items"]["anyOf"]]
    assert names == ["find_user_id_by_email", "search_orders"]
    search = calls_branch["items"]["anyOf"][1]["properties"]["arguments"]
    assert list(search["properties"]) == ["query"]
    assert not ok(schema, call("search_orders", query="q", order_id="#W1234567"))
    # Without grounding, identifiers are plain strings and every tool is offered.
    free = step_schema(TOOLS, None)
    assert ok(free, call("get_order_details", order_id="#W7654321"))


def test_excluded_values_leave_the_grammar_and_the_parser_refuses_them():
    g = grounding()
    g.observe_text("and my other order is #W7654321")
    barred = without_values(TOOLS[1], "order_id", ["#W1234567"])
    tools = [TOOLS[0], barred, *TOOLS[2:]]
    schema = step_schema(tools, g)
    assert not ok(schema, call("get_order_details", order_id="#W1234567"))
    assert ok(schema, call("get_order_details", order_id="#W7654321"))
    assert ok(schema, call("return_items", order_id="#W1234567", item_ids=["1234567890"]))  # other tools keep it
    with pytest.raises(MalformedStepError) as err:
        parse_step(json.dumps(call("get_order_details", order_id="#W1234567")), tools, g)
    assert err.value.reason == "excluded_identifier"
    assert parse_step(json.dumps(call("get_order_details", order_id="#W7654321")), tools, g).calls
    # Every seen value barred: the tool leaves the grammar; the prompt's listing never shows the bar.
    both = without_values(barred, "order_id", ["#W7654321"])
    only = step_schema([TOOLS[0], both], g)["anyOf"][1]["properties"]["calls"]["items"]
    assert only["properties"]["name"]["const"] == "find_user_id_by_email"  # one tool left: no anyOf
    assert tools_prompt([TOOLS[0], both]) == tools_prompt(TOOLS[:2])
    assert tool_signatures([TOOLS[0], both]) == tool_signatures(TOOLS[:2])
    with pytest.raises(ValueError, match="not a grounded identifier"):
        without_values(TOOLS[0], "email", ["a@b.c"])


def test_a_list_of_identifiers_excludes_values_item_by_item():
    g = grounding()
    g.observe_text("and the mug is 9999999999")
    barred = without_values(TOOLS[2], "item_ids", ["1234567890"])
    tools = [TOOLS[0], TOOLS[1], barred]
    schema = step_schema(tools, g)
    assert ok(schema, call("return_items", order_id="#W1234567", item_ids=["9999999999"]))
    assert not ok(schema, call("return_items", order_id="#W1234567", item_ids=["9999999999", "1234567890"]))
    with pytest.raises(MalformedStepError) as err:
        parse_step(json.dumps(call("return_items", order_id="#W1234567", item_ids=["1234567890"])), tools, g)
    assert err.value.reason == "excluded_identifier" and "item_ids[0]" in str(err.value)
    # Every seen item barred: no list is left to write, the tool leaves the grammar.
    none_left = without_values(barred, "item_ids", ["9999999999"])
    assert "return_items" not in json.dumps(step_schema([TOOLS[0], TOOLS[1], none_left], g))


def test_no_callable_tool_omits_calls_branch_or_raises_when_required():
    only_grounded = [TOOLS[1]]
    schema = step_schema(only_grounded, Grounding.from_shapes(RETAIL_SHAPES))
    assert "calls" not in json.dumps(schema)
    assert ok(schema, {"reply": "Which order?"})
    with pytest.raises(EmptyGrammarError) as info:
        step_schema(only_grounded, Grounding.from_shapes(RETAIL_SHAPES), require_tool=True)
    assert "order" in str(info.value) and "Hint:" in str(info.value)


def test_require_tool_removes_reply_and_parallel_bounds_calls():
    schema = step_schema(TOOLS, grounding(), require_tool=True, max_calls=2)
    assert not ok(schema, {"reply": "hello"})
    two = {"calls": call("find_user_id_by_email", email="a")["calls"] + call("get_order_details", order_id="#W1234567")["calls"]}
    three = {"calls": two["calls"] + call("find_user_id_by_email", email="b")["calls"]}
    assert ok(schema, two)
    assert not ok(schema, three)
    assert not ok(schema, {"calls": []})
    single = step_schema(TOOLS, grounding(), parallel=False)
    assert ok(single, call("find_user_id_by_email", email="a"))
    assert not ok(single, two)


def test_reply_is_bounded():
    schema = step_schema(TOOLS, None, max_reply_chars=10)
    assert ok(schema, {"reply": "x" * 10})
    assert not ok(schema, {"reply": "x" * 11})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sure, let me check.", "not_json"),
        ('{"reply": "a", "calls": []}', "bad_shape"),
        ('{"calls": []}', "bad_shape"),
        ('{"calls": [{"name": "get_order_details"}]}', "bad_shape"),
        ('{"calls": [{"name": "cancel", "arguments": {}}]}', "unknown_tool"),
        ('{"calls": [{"name": "get_order_details", "arguments": {"order": "#W1234567"}}]}', "invalid_arguments"),
        ('{"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W7654321"}}]}', "ungrounded_identifier"),
        ('{"calls": [{"name": "return_items", "arguments": {"order_id": "#W1234567", "item_ids": ["1234567890", "42"]}}]}', "ungrounded_identifier"),
    ],
)
def test_parse_step_rejects_with_reason(text, reason):
    with pytest.raises(MalformedStepError) as info:
        parse_step(text, TOOLS, grounding())
    assert info.value.reason == reason and info.value.text == text


def test_parse_step_accepts_and_renders_canonical_text():
    text = '{"calls": [{"name": "return_items", "arguments": {"item_ids": ["1234567890"], "order_id": "#W1234567"}}]}'
    step = parse_step(text, TOOLS, grounding())
    assert not step.is_reply and step.calls[0].name == "return_items"
    # Arguments come back in signature order, as the grammar would have produced them.
    assert step.to_text() == (
        '{"calls": [{"name": "return_items", "arguments": {"order_id": "#W1234567", "item_ids": ["1234567890"]}}]}'
    )
    reply = parse_step('  {"reply": "Grüße"} ', TOOLS, grounding())
    assert reply.is_reply and reply.reply.text == "Grüße" and reply.to_text() == '{"reply": "Grüße"}'
    with pytest.raises(MalformedStepError) as info:
        parse_step('{"reply": "hi"}', TOOLS, grounding(), require_tool=True)
    assert info.value.reason == "reply_not_allowed"
    many = json.dumps({"calls": [call("find_user_id_by_email", email="a")["calls"][0]] * 3})
    with pytest.raises(MalformedStepError) as info:
        parse_step(many, TOOLS, None, max_calls=2)
    assert info.value.reason == "too_many_calls"
    with pytest.raises(ValueError):
        Step()


def test_every_parsed_step_validates_against_the_schema():
    g = grounding()
    schema = step_schema(TOOLS, g)
    for text in (
        '{"reply": "ok"}',
        '{"calls": [{"name": "search_orders", "arguments": {"query": "lamp"}}]}',
        '{"calls": [{"name": "return_items", "arguments": {"order_id": "#W1234567", "item_ids": []}}]}',
    ):
        assert ok(schema, json.loads(parse_step(text, TOOLS, g).to_text()))


def test_grammar_cache_hits_misses_and_eviction():
    cache: GrammarCache[dict] = GrammarCache(maxsize=2)
    g = grounding()
    first = cached_step_schema(cache, TOOLS, g)
    again = cached_step_schema(cache, TOOLS, g)
    assert (cache.hits, cache.misses) == (1, 1)
    assert first == again == step_schema(TOOLS, g)
    first["anyOf"].clear()  # callers get copies; the cached schema is unaffected
    assert cached_step_schema(cache, TOOLS, g) == again

    g.observe_text("ticket TCK-1 from sara_doe_496")  # a user id: no tool here takes one
    cached_step_schema(cache, TOOLS, g)
    assert cache.misses == 1  # same key: irrelevant kinds do not change the grammar
    g.observe_text("also #W7654321")
    cached_step_schema(cache, TOOLS, g)
    assert cache.misses == 2
    cached_step_schema(cache, TOOLS, g, require_tool=True)
    assert cache.misses == 3 and len(cache) == 2
    assert step_key(TOOLS, g, require_tool=True) in cache
    assert step_key(TOOLS, grounding()) not in cache  # least recently used, evicted
    assert step_key(TOOLS[::-1], g) != step_key(TOOLS, g)

    built = []
    value = cache.get_or_build("k", lambda: built.append(1) or "grammar")
    assert value == cache.get_or_build("k", lambda: built.append(1) or "other") == "grammar"
    assert built == [1]


def test_free_text_arguments_are_bounded_in_the_grammar_only():
    from agentspec.decoding.schema import MAX_ARGUMENT_CHARS, step_schema
    from agentspec.decoding.steps import parse_step
    from agentspec.toolkit import Tool

    def note(text: str, mood: Literal["calm", "angry"]) -> str:
        """Leave a note.

        Args:
            text: Free text.
            mood: The mood.
        """
        return "ok"

    tool = Tool.from_function(note)
    schema = step_schema([tool], None, allow_reply=False)
    args = schema["properties"]["calls"]["items"]["properties"]["arguments"]["properties"]
    assert args["text"]["maxLength"] == MAX_ARGUMENT_CHARS
    assert "maxLength" not in args["mood"]
    # The bound is the grammar's: a longer argument written without it still parses.
    long_text = "x" * (MAX_ARGUMENT_CHARS + 10)
    step = parse_step('{"calls": [{"name": "note", "arguments": {"text": "%s", "mood": "calm"}}]}' % long_text, [tool])
    assert step.calls[0].arguments["text"] == long_text


def cancel(order_id: OrderId, reason: Literal["no longer needed", "ordered by mistake"]) -> str:
    """Cancel a pending order."""
    return "ok"


def test_a_narrowed_choice_leaves_the_grammar_and_the_parser_refuses_it():
    g = grounding()
    narrowed = with_choices(Tool.from_function(cancel), "reason", ["ordered by mistake"])
    schema = step_schema([narrowed], g)
    assert ok(schema, call("cancel", order_id="#W1234567", reason="ordered by mistake"))
    assert not ok(schema, call("cancel", order_id="#W1234567", reason="no longer needed"))
    with pytest.raises(MalformedStepError) as err:  # without a grammar, the parser holds the line
        parse_step(json.dumps(call("cancel", order_id="#W1234567", reason="no longer needed")), [narrowed], g)
    assert err.value.reason == "invalid_arguments" and "no longer needed" in str(err.value)
    with pytest.raises(ValueError, match="none of"):
        with_choices(narrowed, "reason", ["lost in the mail"])
    with pytest.raises(ValueError, match="not an enumerated argument"):
        with_choices(narrowed, "order_id", ["#W1234567"])
