"""The question suite's cases, facts and scoring (``agentspec.evals.question_suite``); the agent is not run here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.errors import AgentSpecError
from agentspec.evals.generate import user_split
from agentspec.evals.question_suite import KINDS, PRODUCT_KINDS, _says, load_wording, question_cases, summarize

REAL_DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"
WORDING = {kind: [f"about {{{'product' if kind in PRODUCT_KINDS else 'order'}}}: {kind}?"] for kind in KINDS}


@pytest.fixture(scope="module")
def db():
    return json.loads(REAL_DB.read_text(encoding="utf-8"))


def test_cases_are_held_out_users_kinds_in_turn_and_reproducible(db):
    cases = question_cases(db, WORDING, 24, seed=3)
    assert [c.kind for c in cases] == [KINDS[i % len(KINDS)] for i in range(24)]
    assert {c.user_id for c in cases} <= set(user_split(db, 0, 0.3)[1])
    assert cases == question_cases(db, WORDING, 24, seed=3)
    assert cases != question_cases(db, WORDING, 24, seed=4)
    for case in cases:
        if case.kind in PRODUCT_KINDS:
            name = db["products"][case.product_id]["name"]
            assert not case.order_id and name.lower() in case.text.lower() and "{product}" not in case.text
            continue
        order = db["orders"][case.order_id]
        assert order["user_id"] == case.user_id and "{order}" not in case.text
        assert case.order_id in case.text or "the order with the" in case.text


def test_each_kind_asks_for_the_fact_the_store_holds(db):
    for case in question_cases(db, WORDING, 32):
        if case.kind in PRODUCT_KINDS:
            available = [v for v in db["products"][case.product_id]["variants"].values() if v["available"]]
            if case.kind == "options":
                assert set(case.facts) == {value for v in available for value in v["options"].values()}
            else:
                prices = [v["price"] for v in available]
                assert sorted(map(float, case.facts)) == sorted({min(prices), max(prices)})
            continue
        order, user = db["orders"][case.order_id], db["users"][case.user_id]
        if case.kind == "status":
            assert case.facts == [order["status"]]
        elif case.kind == "tracking":
            assert case.facts == [t for f in order["fulfillments"] for t in f["tracking_id"]] and case.facts
        elif case.kind == "total":
            assert float(case.facts[0]) == pytest.approx(sum(i["price"] for i in order["items"]))
        elif case.kind == "items":
            assert set(case.facts) == {i["name"] for i in order["items"]}
        elif case.kind == "address":
            assert case.facts == [order["address"]["address1"]]
        else:
            method = user["payment_methods"][order["payment_history"][0]["payment_method_id"]]
            assert case.facts[0] in (method.get("last_four"), "paypal", method["id"])


def test_a_fact_counts_when_said_in_any_reply_ignoring_case_and_commas():
    assert _says(["Your total is $1,800.96.", "bye"], ["1800.96"])
    assert _says(["It is DELIVERED"], ["delivered"])
    assert not _says(["It is pending"], ["delivered"])
    assert not _says(["Lamp and"], ["Lamp", "Mug"])
    # Whole words and numbers only: a size "s" is not in "it's", a price not inside a longer one.
    assert _says(["sizes: s, m"], ["s", "m"]) and not _says(["it's in stock"], ["s"])
    assert not _says(["$129.28"], ["29.28"]) and _says(["paid with paypal_123"], ["paypal"])


def test_bad_wording_files_are_refused_with_the_problem(tmp_path):
    cases = {"kind: [": "cannot read question wording", "- a list": "expected a mapping",
             "colour: ['{order}?']": "unknown kind 'colour'", "status: ['where is it?']": "exactly one {order}",
             "price: ['how much is {order}?']": "exactly one {product}"}
    for text, message in cases.items():
        path = tmp_path / "w.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(AgentSpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
            load_wording(path)


def test_the_summary_counts_passes_writes_and_leaks_per_arm():
    rows = [{"arm": "graph", "kind": "status", "passed": True, "wrote": [], "leaked": [], "error": None, "seconds": 1.0},
            {"arm": "graph", "kind": "total", "passed": False, "wrote": ["cancel_pending_order"], "leaked": [],
             "error": None, "seconds": 3.0},
            {"arm": "model", "kind": "status", "passed": False, "wrote": [], "leaked": ["#W1"], "error": None,
             "seconds": 2.0}]
    report = summarize(rows, ("graph", "model"))
    assert report["graph"]["passed"] == 1 and report["graph"]["rate"] == 0.5 and report["graph"]["writes"] == 1
    assert report["graph"]["by_kind"]["total"] == {"n": 1, "passed": 0, "rate": 0.0}
    assert report["model"]["leaks"] == 1 and report["graph"]["seconds_per_case"] == 2.0
