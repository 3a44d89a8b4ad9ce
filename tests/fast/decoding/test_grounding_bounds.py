"""The grounding's bounds: whatever a customer types, the step grammar stays small enough to compile.

The grammar is compiled with llguidance over a byte-level tokenizer (256 byte tokens + EOS), so no
model is loaded.
"""
from __future__ import annotations

import json
import random

import pytest

from agentspec.decoding import Grounding, step_schema
from agentspec.decoding.constraint import JSON_OPTIONS
from agentspec.decoding.grounding import MAX_VALUE_CHARS, MAX_VALUES_PER_KIND, bounded_union
from agentspec.graph.state import merge_grounding
from agentspec.toolkit import ToolRegistry
from agentspec.tools.retail import RETAIL_SHAPES, load_toolkit

llguidance = pytest.importorskip("llguidance")

WORDS = ("please", "my", "order", "lamp", "street", "broken", "blue", "again", "refund", "avenue", "really")


def long_message(n_words: int = 700, seed: int = 0) -> str:
    """One unpunctuated message: no clause ends, so every run of up to six words is a phrase."""
    rng = random.Random(seed)
    return " ".join(f"{rng.choice(WORDS)}{rng.randint(0, 99)}" for _ in range(n_words))


class _ByteTokenizer:
    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, data: bytes) -> list[int]:
        return list(data)


def compile_matcher(schema: dict):
    tokenizer = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()))
    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=JSON_OPTIONS)
    return llguidance.LLMatcher(tokenizer, grammar, log_level=0)


@pytest.fixture
def retail_tools(tmp_path):
    db = tmp_path / "db.json"
    db.write_text(json.dumps({"products": {}, "users": {}, "orders": {}}))
    return ToolRegistry([load_toolkit(db)]).tools


def test_a_700_word_message_keeps_the_newest_values_of_each_kind():
    g = Grounding.from_shapes(RETAIL_SHAPES)
    text = long_message()
    g.observe_text(text)
    words = text.split()
    assert all(len(g.values(kind)) <= MAX_VALUES_PER_KIND for kind in g.kinds())
    assert g.dropped["dictated"] > 10_000  # ~12,000 runs: almost all of them dropped, and counted
    dictated = set(g.values("dictated"))
    assert " ".join(words[-6:]) in dictated and "" in dictated  # the newest run, and the empty line
    assert " ".join(words[:3]) not in dictated  # the oldest runs went


def test_a_value_longer_than_the_bound_is_not_recorded():
    g = Grounding(patterns={"token": r"[a-z]+"})
    g.observe_text("a" * (MAX_VALUE_CHARS + 1) + " short")
    assert g.values("token") == ("short",) and g.dropped == {"token": 1}


def test_a_value_seen_again_counts_as_new_and_survives_the_bound():
    g = Grounding(patterns={"n": r"N[0-9]+"})
    g.observe_text("N0")
    g.observe_text(" ".join(f"N{i}" for i in range(1, MAX_VALUES_PER_KIND)))  # fills the kind
    g.observe_text("N0 N999999")  # N0 again, then one more: N1, the oldest now, goes
    assert ("n", "N0") in g and ("n", "N1") not in g and ("n", "N999999") in g
    assert Grounding(g.as_dict(), patterns=g.patterns).as_dict() == g.as_dict()  # order survives a round trip


def test_the_state_reducer_applies_the_same_bound_newest_last():
    old = {"n": [f"v{i}" for i in range(MAX_VALUES_PER_KIND)]}
    merged = bounded_union(old, {"n": ["v0", "new"]})
    assert merged["n"][-2:] == ["v0", "new"] and "v1" not in merged["n"] and "v2" in merged["n"]
    assert len(merged["n"]) == MAX_VALUES_PER_KIND
    assert merge_grounding(old, {"n": ["v0", "new"]}) == merged


def test_the_step_schema_after_a_700_word_message_is_bounded_and_compiles(retail_tools):
    g = Grounding.from_shapes(RETAIL_SHAPES)
    for kind, value in (("user", "sara_doe_496"), ("order", "#W0000001"), ("item", "1111111111"),
                        ("product", "2222222222"), ("payment_method", "credit_card_1")):
        g.add(kind, value)
    text = long_message()
    g.observe_text(text)
    g.observe_text(long_message(seed=1))  # a second one: the bound holds across messages too
    schema = step_schema(retail_tools, g)
    # Unbounded, this schema was ~4 MB and llguidance refused it ("schema too large").
    assert len(json.dumps(schema)) < 1_000_000
    matcher = compile_matcher(schema)
    assert not matcher.is_error(), matcher.get_error()
    newest = " ".join(long_message(seed=1).split()[-3:])
    arguments = {"order_id": "#W0000001", "address1": newest, "address2": "", "city": newest, "state": newest,
                 "country": newest, "zip": newest}  # in signature order: the grammar fixes key order
    step = json.dumps({"calls": [{"name": "modify_pending_order_address", "arguments": arguments}]})
    assert all(matcher.consume_token(b) for b in step.encode()), matcher.get_error()
    assert matcher.is_accepting()
