"""Tools from typed functions and OpenAI/BFCL JSON, validation, registry outcomes, toolkit discovery."""
from __future__ import annotations

import enum
import json
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel

import agentspec.toolkit as toolkit_mod
from agentspec.errors import (
    AgentSpecError,
    ToolArgumentError,
    ToolDefinitionError,
    ToolError,
    UnknownToolError,
    UnknownToolkitError,
)
from agentspec.toolkit import Tool, ToolRegistry, load_toolkit, user_errors
from agentspec.tools.types import GROUNDED_KEY, Identifier


class Speed(enum.Enum):
    STANDARD = "standard"
    EXPRESS = "express"


class Address(BaseModel):
    city: str
    zip: str = "00000"


class Line(BaseModel):
    item_id: Annotated[str, Identifier("item")]
    quantity: int = 1


def ship(
    order_id: Annotated[str, Identifier("order")],
    item_ids: list[Annotated[str, Identifier("item")]],
    address: Address,
    speed: Speed = Speed.STANDARD,
    gift: Literal["yes", "no"] = "no",
    note: Optional[str] = None,
    tags: list[str] = [],  # noqa: B006 - a default the schema must show
    weight: float = 1.5,
) -> str:
    """Ship items of an order.

    Args:
        order_id: The order id, such as '#W0000000'.
        item_ids (list[str]): The items to ship,
            each a 10-digit id.
        address: Where to ship.
        speed: Delivery speed.
    Returns:
        A confirmation.
    """
    return f"shipped {order_id}"


def schema_of(fn) -> dict:
    return Tool.from_function(fn).parameters


def test_schema_from_signature_defaults_enums_nested_and_descriptions():
    tool = Tool.from_function(ship)
    params = tool.parameters
    props = params["properties"]
    assert tool.name == "ship"
    assert tool.description == "Ship items of an order."
    assert list(props) == ["order_id", "item_ids", "address", "speed", "gift", "note", "tags", "weight"]
    assert params["required"] == ["order_id", "item_ids", "address"]
    assert params["additionalProperties"] is False
    assert props["order_id"] == {
        "type": "string",
        "description": "The order id, such as '#W0000000'.",
        GROUNDED_KEY: "order",
    }
    assert props["item_ids"]["type"] == "array"
    assert props["item_ids"]["items"] == {"type": "string", GROUNDED_KEY: "item"}
    assert props["item_ids"]["description"] == "The items to ship, each a 10-digit id."
    # Nested model inlined (no $defs / $ref: the step grammar embeds this schema elsewhere).
    assert props["address"]["type"] == "object"
    assert props["address"]["properties"]["zip"] == {"type": "string", "default": "00000"}
    assert props["address"]["required"] == ["city"]
    assert props["speed"]["enum"] == ["standard", "express"]
    assert props["speed"]["default"] == "standard"
    assert props["gift"]["enum"] == ["yes", "no"]
    assert {"type": "null"} in props["note"]["anyOf"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert props["weight"] == {"type": "number", "default": 1.5}
    dumped = json.dumps(params)
    assert "$ref" not in dumped and "$defs" not in dumped and '"title"' not in dumped


def test_identifier_inside_nested_model_and_optional():
    def add_lines(lines: list[Line], coupon: Annotated[Optional[str], Identifier("coupon")] = None) -> str:
        """Add lines."""
        return "ok"

    props = schema_of(add_lines)["properties"]
    assert props["lines"]["items"]["properties"]["item_id"] == {"type": "string", GROUNDED_KEY: "item"}
    assert {"type": "string", GROUNDED_KEY: "coupon"} in props["coupon"]["anyOf"]


def test_property_named_title_survives_title_stripping():
    def rename(title: str, json: str = "x") -> str:  # names that clash with BaseModel attributes
        """Rename."""
        return title

    params = schema_of(rename)
    assert list(params["properties"]) == ["title", "json"]
    assert Tool.from_function(rename).validate({"title": "a"}) == {"title": "a", "json": "x"}


def test_self_is_excluded_for_methods():
    class Shop:
        def lookup(self, user_id: str) -> str:
            """Look up a user."""
            return user_id

    assert list(schema_of(Shop().lookup)["properties"]) == ["user_id"]
    assert list(schema_of(Shop.lookup)["properties"]) == ["user_id"]


def test_bad_definitions_raise_with_hint():
    def untyped(x) -> str:
        return ""

    def variadic(*args: str) -> str:
        return ""

    def wrong(n: Annotated[int, Identifier("order")]) -> str:
        return ""

    for fn in (untyped, variadic, wrong):
        with pytest.raises(ToolDefinitionError) as info:
            Tool.from_function(fn)
        assert "Hint:" in str(info.value)


def test_validate_converts_and_lists_each_bad_field():
    tool = Tool.from_function(ship)
    good = tool.validate({"order_id": "#W1", "item_ids": ["1"], "address": {"city": "Oslo"}, "speed": "express"})
    assert good["speed"] is Speed.EXPRESS
    assert isinstance(good["address"], Address) and good["address"].zip == "00000"
    with pytest.raises(ToolArgumentError) as info:
        tool.validate({"order_id": 5, "item_ids": "x", "speed": "slow", "bogus": 1})
    err = info.value
    fields = {path for path, _ in err.errors}
    assert {"order_id", "item_ids", "address", "speed", "bogus"} <= fields
    assert "Invalid arguments for tool 'ship'" in str(err) and "Hint:" in str(err)
    assert isinstance(err, AgentSpecError) and err.code == "tool_arguments"


def test_openai_round_trip_and_bare_function_dict():
    tool = Tool.from_function(ship)
    spec = tool.to_openai()
    assert spec["type"] == "function" and spec["function"]["name"] == "ship"
    back = Tool.from_openai(spec)
    assert back == tool and back.fingerprint == tool.fingerprint
    assert back.function is None
    assert Tool.from_openai(spec["function"]) == tool
    assert Tool.from_openai(json.loads(json.dumps(spec))) == tool


def test_bfcl_dialect_is_converted_to_json_schema():
    bfcl = {
        "name": "calc.area",
        "description": "Area of a shape.",
        "parameters": {
            "type": "dict",
            "properties": {
                "base": {"type": "float", "description": "Base."},
                "dims": {"type": "tuple", "items": {"type": "integer"}},
                "meta": {"type": "any"},
                "opts": {"type": "dict", "properties": {"unit": {"type": "string"}}},
            },
            "required": ["base"],
        },
    }
    tool = Tool.from_openai(bfcl)
    props = tool.parameters["properties"]
    assert tool.parameters["type"] == "object"
    assert props["base"] == {"type": "number", "description": "Base."}
    assert props["dims"] == {"type": "array", "items": {"type": "integer"}}
    assert props["meta"] == {}
    assert props["opts"]["type"] == "object"
    # Imported tools validate through jsonschema.
    assert tool.validate({"base": 2.5, "dims": [1, 2]}) == {"base": 2.5, "dims": [1, 2]}
    with pytest.raises(ToolArgumentError) as info:
        tool.validate({"base": "wide", "dims": ["a"]})
    assert {path for path, _ in info.value.errors} == {"base", "dims.0"}
    with pytest.raises(ToolDefinitionError):
        Tool.from_openai({"name": "x", "parameters": {"type": "dict", "properties": {"a": {"type": "complex"}}}})


class NotFound(Exception):
    pass


class RetailLike:
    """A toolkit-shaped object (name + functions), like the retail toolkit."""

    name = "retail_like"
    user_errors = (ValueError,)

    def functions(self):
        return [self.get_order, self.crash]

    def get_order(self, order_id: str) -> dict:
        """Get an order."""
        if order_id == "#missing":
            raise ValueError("Order not found")
        return {"order_id": order_id, "total": 1.5}

    def crash(self) -> str:
        """A tool with a bug."""
        return {}["nope"]


def make_registry() -> ToolRegistry:
    @user_errors(NotFound)
    def find_user(email: str) -> str:
        """Find a user by email."""
        if email == "tool-error@x":
            raise ToolError("No such user")
        if email == "declared@x":
            raise NotFound("nobody with that email")
        if email == "bug@x":
            raise RuntimeError("our bug")
        return "sara_doe_496"

    return ToolRegistry([find_user, RetailLike()])


def test_registry_outcomes_are_distinguishable():
    registry = make_registry()
    assert registry.names == ["find_user", "get_order", "crash"]

    ok = registry.call("find_user", {"email": "a@b"})
    assert (ok.kind, ok.observation, ok.ok) == ("ok", "sara_doe_496", True)

    encoded = registry.call("get_order", {"order_id": "#W1"})
    assert encoded.kind == "ok" and json.loads(encoded.observation) == {"order_id": "#W1", "total": 1.5}

    invalid = registry.call("find_user", {"mail": "a@b"})
    assert invalid.kind == "invalid_arguments" and invalid.observation.startswith("Error: Invalid arguments")
    assert isinstance(invalid.error, ToolArgumentError)

    raised = registry.call("find_user", {"email": "tool-error@x"})
    assert (raised.kind, raised.observation) == ("tool_error", "Error: No such user")

    declared = registry.call("find_user", {"email": "declared@x"})
    assert (declared.kind, declared.observation) == ("tool_error", "Error: nobody with that email")

    by_toolkit = registry.call("get_order", {"order_id": "#missing"})
    assert (by_toolkit.kind, by_toolkit.observation) == ("tool_error", "Error: Order not found")


def test_undeclared_exceptions_propagate():
    registry = make_registry()
    with pytest.raises(RuntimeError, match="our bug"):
        registry.call("find_user", {"email": "bug@x"})
    with pytest.raises(KeyError):
        registry.call("crash", {})
    with pytest.raises(UnknownToolError):
        registry.call("nope", {})


def test_registry_subset_openai_and_duplicates():
    registry = make_registry()
    sub = registry.subset(["get_order", "find_user"])
    assert sub.names == ["get_order", "find_user"]
    imported = ToolRegistry.from_openai(registry.to_openai())
    assert imported.tools == registry.tools
    with pytest.raises(ToolDefinitionError):  # no Python function behind an imported tool
        imported.call("find_user", {"email": "a@b"})
    with pytest.raises(ToolDefinitionError, match="Two tools"):
        registry.register(registry.get("find_user"))
    with pytest.raises(UnknownToolError, match="Known tools"):
        registry.subset(["missing"])


class FakeEntryPoint:
    def __init__(self, name, factory):
        self.name, self.group, self._factory = name, toolkit_mod.ENTRY_POINT_GROUP, factory

    def load(self):
        return self._factory


def test_load_toolkit_through_entry_points(monkeypatch):
    received = {}

    def factory(**config):
        received.update(config)
        return RetailLike()

    def fake_entry_points(*, group):
        assert group == "agentspec.toolkits"
        return [FakeEntryPoint("retail_like", factory), FakeEntryPoint("broken", lambda **_: object())]

    monkeypatch.setattr(toolkit_mod, "entry_points", fake_entry_points)
    toolkit = load_toolkit("retail_like", db_path="/tmp/db.json")
    assert toolkit.name == "retail_like" and received == {"db_path": "/tmp/db.json"}
    assert ToolRegistry([toolkit]).names == ["get_order", "crash"]
    assert toolkit_mod.available_toolkits() == ["broken", "retail_like"]
    with pytest.raises(UnknownToolkitError) as info:
        load_toolkit("airline")
    assert "Available: broken, retail_like" in str(info.value)
    with pytest.raises(ToolDefinitionError, match="not a toolkit"):
        load_toolkit("broken")
