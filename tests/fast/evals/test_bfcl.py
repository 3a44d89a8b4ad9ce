"""BFCL loading, schema conversion and the AST checker (rules mirrored from BFCL's ast_checker)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.evals.bfcl import (
    ERROR_TYPES,
    BfclCase,
    BfclFormatError,
    bfcl_functions_to_json_schema,
    category_of,
    check_case,
    check_irrelevance,
    check_multiple,
    check_parallel,
    check_simple,
    load_bfcl,
    normalize_string,
    score,
    validate_call,
)

DATA = Path("/work/shared/data/bfcl-live-simple")
QUESTIONS = DATA / "BFCL_v4_live_simple.json"
ANSWERS = DATA / "possible_answer.json"

WEATHER = {
    "name": "get_weather",
    "description": "Weather forecast.",
    "parameters": {
        "type": "dict",
        "required": ["location"],
        "properties": {
            "location": {"type": "string", "description": "City, State"},
            "days": {"type": "integer", "default": 1},
            "temperature": {"type": "float"},
            "metric": {"type": "boolean", "default": True},
            "tags": {"type": "array", "items": {"type": "string"}},
            "counts": {"type": "array", "items": {"type": "integer"}},
            "options": {"type": "dict", "properties": {"unit": {"type": "string"},
                                                       "precision": {"type": "integer"}}},
            "people": {"type": "array", "items": {"type": "dict"}},
            "note": {"type": "string", "default": None},
            "anything": {"type": "any"},
        },
    },
}


def gt(**params):
    return {"get_weather": params}


def call(name="get_weather", **arguments):
    return {"name": name, "arguments": arguments}


def simple(c, **params):
    return check_simple(WEATHER, c, gt(**params))


# ---- names and parameters -------------------------------------------------------------------

def test_exact_call_passes():
    r = simple(call(location="Boston, MA", days=3), location=["Boston, MA"], days=[3])
    assert r.valid and r.error_type is None


def test_wrong_function_name():
    r = simple(call("get_forecast", location="Boston"), location=["Boston"])
    assert (r.valid, r.error_type) == (False, "wrong_func_name")


def test_missing_required_parameter():
    r = simple(call(days=3), location=["Boston"], days=[3])
    assert (r.valid, r.error_type) == (False, "missing_required")


def test_parameter_not_in_schema_is_unexpected():
    r = simple(call(location="Boston", wind=True), location=["Boston"])
    assert (r.valid, r.error_type) == (False, "unexpected_param")


def test_parameter_in_schema_but_not_in_ground_truth_is_unexpected():
    # BFCL rejects a parameter the ground truth does not list, even a declared one.
    r = simple(call(location="Boston", days=2), location=["Boston"])
    assert (r.valid, r.error_type) == (False, "unexpected_param")


def test_dotted_name_with_underscore_to_dot():
    fn = dict(WEATHER, name="weather.get")
    truth = {"weather.get": {"location": ["Boston"]}}
    assert check_simple(fn, call("weather.get", location="Boston"), truth).valid
    # Models whose API forbids "." are offered, and must answer, "weather_get".
    converted = check_simple(fn, call("weather_get", location="Boston"), truth,
                             underscore_to_dot=True)
    assert converted.valid
    r = check_simple(fn, call("weather.get", location="Boston"), truth, underscore_to_dot=True)
    assert r.error_type == "wrong_func_name"


def test_arguments_as_json_string_and_malformed_calls():
    as_text = {"name": "get_weather", "arguments": json.dumps({"location": "Boston"})}
    assert simple(as_text, location=["Boston"]).valid
    for bad in ({"arguments": {}}, {"name": "get_weather", "arguments": "{not json"},
                {"name": "get_weather", "arguments": [1]}, "get_weather()"):
        assert simple(bad, location=["Boston"]).error_type == "malformed_call"


# ---- types -----------------------------------------------------------------------------------

def test_int_accepted_where_float_expected():
    assert simple(call(location="B", temperature=20), location=["B"], temperature=[20.0]).valid


def test_float_rejected_where_int_expected():
    r = simple(call(location="B", days=3.0), location=["B"], days=[3])
    assert (r.valid, r.error_type) == (False, "type_error")


def test_bool_and_string_are_not_interchangeable():
    r = simple(call(location="B", metric="true"), location=["B"], metric=[True])
    assert r.error_type == "type_error"
    r = simple(call(location=True), location=["True"])
    assert r.error_type == "type_error"
    # bool is not an int either (Python's True == 1 must not leak through).
    r = simple(call(location="B", days=True), location=["B"], days=[1])
    assert r.error_type == "type_error"


def test_any_is_checked_as_string():
    assert simple(call(location="B", anything="say hi"), location=["B"], anything=["say hi"]).valid
    r = simple(call(location="B", anything=3), location=["B"], anything=["3"])
    assert r.error_type == "type_error"


def test_variable_relaxation_uses_the_ground_truth_type_without_normalising():
    # Ground truth holds a string for an integer parameter: BFCL treats it as a variable name.
    assert simple(call(location="B", days="n_days"), location=["B"], days=["n_days"]).valid
    r = simple(call(location="B", days="N_DAYS"), location=["B"], days=["n_days"])
    assert r.error_type == "value_error"


def test_explicit_null_accepted_when_ground_truth_lists_none():
    # live-simple's pattern: optional string parameters with accepted values ["", None].
    assert simple(call(location="B", note=None), location=["B"], note=["", None]).valid
    assert simple(call(location="B"), location=["B"], note=["", None]).valid
    r = simple(call(location="B", note="hello"), location=["B"], note=["", None])
    assert r.error_type == "value_error"


# ---- values ----------------------------------------------------------------------------------

def test_strings_are_normalised():
    assert normalize_string("San Francisco, CA") == "sanfranciscoca"
    assert normalize_string("A-b_c.d/e*f^g h,i") == "abcdefghi"
    assert normalize_string("it's") == 'it"s'
    r = simple(call(location="san francisco ca"), location=["San Francisco, CA"])
    assert r.valid
    r = simple(call(location="San Jose, CA"), location=["San Francisco, CA"])
    assert (r.valid, r.error_type) == (False, "value_error")


def test_any_accepted_value_matches():
    r = simple(call(location="NYC"), location=["New York, NY", "NYC"])
    assert r.valid


def test_number_must_be_among_accepted_values():
    r = simple(call(location="B", days=4), location=["B"], days=[3, 5])
    assert r.error_type == "value_error"


def test_optional_parameter_may_be_omitted_only_when_marked():
    assert simple(call(location="B"), location=["B"], days=["", 1]).valid
    assert simple(call(location="B", days=1), location=["B"], days=["", 1]).valid
    r = simple(call(location="B"), location=["B"], days=[1])
    assert (r.valid, r.error_type) == (False, "missing_optional")


def test_list_values_normalised_elementwise_and_ordered():
    truth = dict(location=["B"], tags=[["Rain", "Strong Wind"]])
    assert simple(call(location="B", tags=["rain", "strong-wind"]), **truth).valid
    r = simple(call(location="B", tags=["strong wind", "rain"]), **truth)
    assert r.error_type == "value_error"
    r = simple(call(location="B", tags=["rain"]), **truth)
    assert r.error_type == "value_error"


def test_list_element_types_are_checked():
    truth = dict(location=["B"], counts=[[1, 2]])
    assert simple(call(location="B", counts=[1, 2]), **truth).valid
    r = simple(call(location="B", counts=[1, "2"]), **truth)
    assert r.error_type == "type_error"


def test_optional_list_accepts_omission_and_empty_list():
    truth = dict(location=["B"], tags=["", []])
    assert simple(call(location="B"), **truth).valid
    assert simple(call(location="B", tags=[]), **truth).valid
    assert simple(call(location="B", tags=["x"]), **truth).error_type == "value_error"


def test_nested_dict_checked_key_by_key():
    truth = dict(location=["B"], options=[{"unit": ["Celsius"], "precision": ["", 1]}])
    assert simple(call(location="B", options={"unit": "celsius"}), **truth).valid
    assert simple(call(location="B", options={"unit": "Celsius", "precision": 1}), **truth).valid
    for bad in ({"unit": "kelvin"}, {"precision": 1}, {"unit": "Celsius", "colour": "red"},
                {"unit": "Celsius", "precision": 2}):
        r = simple(call(location="B", options=bad), **truth)
        assert (r.valid, r.error_type) == (False, "value_error"), bad


def test_list_of_dicts_compared_in_order():
    truth = dict(location=["B"], people=[[{"name": ["Ann"], "age": [3]},
                                          {"name": ["Bo"], "age": [5]}]])
    good = [{"name": "ann", "age": 3}, {"name": "Bo", "age": 5}]
    assert simple(call(location="B", people=good), **truth).valid
    r = simple(call(location="B", people=list(reversed(good))), **truth)
    assert r.error_type == "value_error"
    r = simple(call(location="B", people=good[:1]), **truth)
    assert r.error_type == "value_error"


# ---- parallel, multiple, irrelevance ---------------------------------------------------------

SF, NY = call(location="San Francisco"), call(location="New York")
PAR_TRUTH = [gt(location=["San Francisco, CA", "San Francisco"]), gt(location=["New York"])]


def test_parallel_matches_in_any_order():
    assert check_parallel([WEATHER], [SF, NY], PAR_TRUTH).valid
    assert check_parallel([WEATHER], [NY, SF], PAR_TRUTH).valid


def test_parallel_with_a_missing_or_extra_call():
    assert check_parallel([WEATHER], [SF], PAR_TRUTH).error_type == "wrong_count"
    assert check_parallel([WEATHER], [SF, NY, NY], PAR_TRUTH).error_type == "wrong_count"


def test_parallel_each_model_call_used_once():
    r = check_parallel([WEATHER], [SF, SF], PAR_TRUTH)
    assert (r.valid, r.error_type) == (False, "cannot_find_match")
    assert "New York" in r.detail
    # Two identical expected calls need two model calls, not the same one twice.
    twice = [gt(location=["San Francisco"]), gt(location=["San Francisco"])]
    assert check_parallel([WEATHER], [SF, SF], twice).valid
    assert check_parallel([WEATHER], [SF, NY], twice).error_type == "cannot_find_match"


def test_parallel_matching_is_greedy_like_bfcl():
    # The first expected call takes the first model call it accepts, even when that leaves the
    # second expected call without a match (a perfect matching SF->2nd, NY->1st exists).
    truth = [gt(location=["San Francisco", "New York"]), gt(location=["San Francisco"])]
    assert check_parallel([WEATHER], [SF, NY], truth).error_type == "cannot_find_match"
    assert check_parallel([WEATHER], [NY, SF], truth).valid


def test_multiple_picks_the_expected_function_among_several():
    other = dict(WEATHER, name="get_news")
    truth = [gt(location=["Boston"])]
    assert check_multiple([other, WEATHER], [call(location="Boston")], truth).valid
    r = check_multiple([other, WEATHER], [call("get_news", location="Boston")], truth)
    assert r.error_type == "wrong_func_name"
    r = check_multiple([other, WEATHER], [call(location="Boston")] * 2, truth)
    assert r.error_type == "wrong_count"


def test_ground_truth_naming_an_unoffered_function_is_a_data_error():
    with pytest.raises(BfclFormatError, match="not among the offered functions"):
        check_multiple([WEATHER], [SF], [{"get_news": {}}])


def test_irrelevance_passes_iff_no_call():
    assert check_irrelevance([]).valid
    assert check_irrelevance(None).valid  # nothing decoded: BFCL counts it as no call
    r = check_irrelevance([SF])
    assert (r.valid, r.error_type) == (False, "irrelevance_call")


def test_check_case_dispatches_on_the_id():
    assert category_of("live_simple_12-3-0") == "live_simple"
    assert category_of("parallel_multiple_7") == "parallel_multiple"
    irrelevant = BfclCase("live_irrelevance_4-1-0", [], [WEATHER], None)
    assert check_case(irrelevant, []).valid
    assert check_case(irrelevant, [SF]).error_type == "irrelevance_call"
    par = BfclCase("parallel_3", [], [WEATHER], PAR_TRUTH)
    assert check_case(par, [NY, SF]).valid
    single = BfclCase("live_simple_0-0-0", [], [WEATHER], [gt(location=["New York"])])
    assert check_case(single, [NY]).valid
    assert check_case(single, [NY, NY]).error_type == "wrong_count"
    assert check_case(single, []).error_type == "wrong_count"
    assert check_case(single, None).error_type == "parse_error"
    assert check_case(single, [{"name": 3}]).error_type == "malformed_call"
    with pytest.raises(BfclFormatError, match="no ground truth"):
        check_case(BfclCase("simple_1", [], [WEATHER], None), [NY])


def test_every_reported_error_type_is_declared():
    assert len(set(ERROR_TYPES)) == len(ERROR_TYPES)
    for r in (simple(call("x")), simple(call(days=1), location=["B"]),
              check_parallel([WEATHER], [SF], PAR_TRUTH), check_irrelevance([SF])):
        assert r.error_type in ERROR_TYPES


# ---- schema validity (no ground truth) -------------------------------------------------------

def test_validate_call_checks_schema_only():
    assert validate_call([WEATHER], call(location="anywhere", temperature=3)).valid
    assert validate_call([WEATHER], call("nope")).error_type == "wrong_func_name"
    assert validate_call([WEATHER], call(days=1)).error_type == "missing_required"
    assert validate_call([WEATHER], call(location="B", wind=1)).error_type == "unexpected_param"
    assert validate_call([WEATHER], call(location="B", days="3")).error_type == "type_error"
    assert validate_call([WEATHER], call(location="B", counts=[1, 2.5])).error_type == "type_error"
    assert validate_call([WEATHER], call(location="B", note=None)).valid  # its declared default
    enum_fn = {"name": "f", "parameters": {"type": "dict", "properties": {
        "mode": {"type": "string", "enum": ["a", "b"]},
        "modes": {"type": "array", "items": {"type": "string"}, "enum": ["a", "b"]}}}}
    assert validate_call([enum_fn], call("f", mode="a", modes=["b", "a"])).valid
    assert validate_call([enum_fn], call("f", mode="c")).error_type == "value_error"
    assert validate_call([enum_fn], call("f", modes=["a", "c"])).error_type == "value_error"


# ---- loading ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live_simple() -> list[BfclCase]:
    return load_bfcl(QUESTIONS, ANSWERS)


def test_load_live_simple(live_simple):
    assert len(live_simple) == 258
    assert len({c.id for c in live_simple}) == 258
    first = live_simple[0]
    assert first.id == "live_simple_0-0-0"
    assert first.messages[-1]["role"] == "user" and "7890" in first.messages[-1]["content"]
    assert first.ground_truth == [{"get_user_info": {"user_id": [7890], "special": ["black"]}}]
    for case in live_simple:
        assert case.messages and all(m["role"] in ("system", "user") for m in case.messages)
        offered = {f["name"] for f in case.functions}
        assert case.ground_truth and all(next(iter(e)) in offered for e in case.ground_truth)


def test_load_without_answers(live_simple):
    cases = load_bfcl(QUESTIONS)
    assert [c.id for c in cases] == [c.id for c in live_simple]
    assert all(c.ground_truth is None for c in cases)


def _oracle_arguments(params: dict) -> dict:
    # A call built from the first accepted value of every parameter, dicts materialised.
    def first(values):
        return next((v for v in values if v != ""), "")

    def build(value):
        if isinstance(value, dict):
            return {k: build(first(v)) for k, v in value.items() if first(v) != ""}
        if isinstance(value, list):
            return [build(v) for v in value]
        return value

    return {p: build(first(v)) for p, v in params.items() if first(v) != ""}


def test_score_of_ground_truth_calls_on_live_simple(live_simple):
    preds = []
    for case in live_simple:
        (name, params), = case.ground_truth[0].items()
        oracle = {"name": name, "arguments": _oracle_arguments(params)}
        preds.append({"id": case.id, "calls": [oracle], "parse_error": None})
    result = score(live_simple, preds)
    failed = {r["id"] for r in result["per_case"] if not r["valid"]}
    # These two list a required parameter with no accepted value at all ([]), so no call can
    # pass them under BFCL's rules; every other case accepts its own ground truth.
    assert failed == {"live_simple_106-63-0", "live_simple_112-68-0"}
    assert result["n"] == 258
    assert result["accuracy"] == pytest.approx(256 / 258)
    assert result["valid_rate"] == pytest.approx(256 / 258)
    assert result["errors"]["missing_required"] == 2
    assert sum(result["errors"].values()) == 2


def _write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


Q1 = {"id": "simple_1", "question": [[{"role": "user", "content": "hi"}]], "function": [WEATHER]}
Q2 = dict(Q1, id="simple_2")
A1 = {"id": "simple_1", "ground_truth": [gt(location=["B"])]}
A2 = dict(A1, id="simple_2")


def test_load_flattens_first_turn_and_joins_by_id(tmp_path):
    q = _write(tmp_path / "q.json", [Q1, Q2])
    a = _write(tmp_path / "a.json", [A2, A1])  # order differs: joined by id
    cases = load_bfcl(q, a)
    assert [c.id for c in cases] == ["simple_1", "simple_2"]
    assert cases[0].messages == [{"role": "user", "content": "hi"}]
    assert cases[0].ground_truth == A1["ground_truth"]


@pytest.mark.parametrize("questions, answers, match", [
    ([Q1, "{not json"], [A1], r"q\.json:2: not valid JSON"),
    ([Q1, dict(Q2, question="hi")], [A1, A2], r"q\.json:2: case 'simple_2': 'question'"),
    ([Q1, dict(Q2, function=[{"name": "f"}])], [A1, A2], r"q\.json:2: .*'parameters'"),
    ([Q1, Q1], [A1], r"q\.json:2: duplicate id 'simple_1'"),
    ([Q1, Q2], [A1], r"q\.json:2: id 'simple_2' has no answer in .*a\.json"),
    ([Q1], [A1, A2], r"a\.json:2: id 'simple_2' has no question"),
    ([Q1], [dict(A1, ground_truth=[{"f": {"x": 1}}])], r"a\.json:1: .*list of accepted"),
    ([Q1], [{"ground_truth": []}], r"a\.json:1: expected an object with a string 'id'"),
])
def test_load_errors_name_file_line_and_fix(tmp_path, questions, answers, match):
    q = _write(tmp_path / "q.json", questions)
    a = _write(tmp_path / "a.json", answers)
    with pytest.raises(BfclFormatError, match=match) as info:
        load_bfcl(q, a)
    assert info.value.hint  # every load error says what to do


def test_load_can_skip_malformed_cases_and_name_them(tmp_path):
    q = _write(tmp_path / "q.json", [Q1, "{not json", dict(Q2, function=[{"name": "f"}]), dict(Q1, id="simple_3")])
    a = _write(tmp_path / "a.json", [A1, A2, dict(A1, id="simple_3", ground_truth="nope")])
    skipped = []
    cases = load_bfcl(q, a, skipped=skipped)
    assert [c.id for c in cases] == ["simple_1"]
    assert [(s["id"], s["line"].rsplit(":", 1)[-1]) for s in skipped] == [(None, "2"), ("simple_2", "3"),
                                                                          ("simple_3", "3")]
    assert "not valid JSON" in skipped[0]["reason"] and "'parameters'" in skipped[1]["reason"]
    report = score(cases, [{"calls": [{"name": "get_weather", "arguments": {"location": "B"}}]}], skipped=skipped)
    assert report["n"] == 4 and report["accuracy"] == 0.25 and report["errors"]["malformed_case"] == 3
    assert [m["id"] for m in report["malformed_cases"]] == [None, "simple_2", "simple_3"]


def test_a_case_the_checker_cannot_use_is_a_malformed_case_not_an_abort():
    bad = BfclCase("java_0", [{"role": "user", "content": "hi"}], [WEATHER], None)  # an unsupported category
    good = BfclCase("simple_1", [{"role": "user", "content": "hi"}], [WEATHER], [gt(location=["B"])])
    call = {"name": "get_weather", "arguments": {"location": "B"}}
    report = score([bad, good], [{"calls": [call]}, {"calls": [call]}])
    assert report["accuracy"] == 0.5 and report["errors"]["malformed_case"] == 1
    assert report["malformed_cases"][0]["id"] == "java_0" and "not supported" in report["malformed_cases"][0]["reason"]


# ---- schema conversion -----------------------------------------------------------------------

def test_schema_conversion_maps_the_dialect():
    fn = {"name": "f", "description": "d", "parameters": {
        "type": "dict", "required": ["a"], "properties": {
            "a": {"type": "float", "description": "x", "default": 1.5},
            "b": {"type": "tuple", "items": {"type": "any"}},
            "c": {"type": "dict", "properties": {"d": {"type": "string", "enum": ["u", "v"]}},
                  "additionalProperties": {"type": "float"}},
            "e": {"type": "any", "description": "free"},
            "g": {"type": "array", "items": {"type": "string"}, "enum": ["p", "q"]},
        }}}
    out = bfcl_functions_to_json_schema(fn)
    assert out["name"] == "f" and out["description"] == "d"
    p = out["parameters"]
    assert p["type"] == "object" and p["required"] == ["a"]
    props = p["properties"]
    assert props["a"] == {"type": "number", "description": "x", "default": 1.5}
    assert props["b"] == {"type": "array", "items": {}}
    assert props["c"]["type"] == "object"
    assert props["c"]["properties"]["d"] == {"type": "string", "enum": ["u", "v"]}
    assert props["c"]["additionalProperties"] == {"type": "number"}
    assert props["e"] == {"description": "free"}
    # An array-level enum of strings constrains the elements.
    assert props["g"] == {"type": "array", "items": {"type": "string", "enum": ["p", "q"]}}
    assert fn["parameters"]["properties"]["a"]["type"] == "float"  # input left untouched


def test_schema_conversion_rejects_unknown_types():
    with pytest.raises(BfclFormatError, match="unknown BFCL type 'String'"):
        bfcl_functions_to_json_schema({"name": "f", "parameters": {
            "type": "dict", "properties": {"x": {"type": "String"}}}})


_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _check_json_schema(node, path="$"):
    """Structural check of the JSON-schema subset the converter emits (jsonschema is not a
    dependency of the venv; where it is importable, Draft 2020-12 is checked as well)."""
    assert isinstance(node, dict), path
    if "type" in node:
        assert node["type"] in _JSON_TYPES, (path, node["type"])
    if "properties" in node:
        assert isinstance(node["properties"], dict), path
        for name, sub in node["properties"].items():
            _check_json_schema(sub, f"{path}.{name}")
    if "required" in node:
        assert isinstance(node["required"], list), path
        assert all(isinstance(r, str) for r in node["required"]), path
    if "items" in node:
        _check_json_schema(node["items"], f"{path}[]")
    if "additionalProperties" in node and not isinstance(node["additionalProperties"], bool):
        _check_json_schema(node["additionalProperties"], f"{path}{{}}")
    if "enum" in node:
        assert isinstance(node["enum"], list) and node["enum"], path


def test_schema_conversion_on_live_simple_is_valid_json_schema(live_simple):
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        Draft202012Validator = None
    bfcl_only = {"dict", "float", "tuple", "any"}
    for case in live_simple:
        for fn in case.functions:
            params = bfcl_functions_to_json_schema(fn)["parameters"]
            assert params["type"] == "object"
            _check_json_schema(params, fn["name"])
            assert not bfcl_only & set(_all_types(params)), fn["name"]
            if Draft202012Validator is not None:
                Draft202012Validator.check_schema(params)


def _all_types(node):
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield node["type"]
        for value in node.values():
            yield from _all_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_types(value)


# ---- aggregate -------------------------------------------------------------------------------

def test_score_counts_accuracy_validity_and_errors():
    single = [gt(location=["Boston"])]
    cases = [BfclCase(f"simple_{i}", [], [WEATHER], single) for i in range(4)]
    cases.append(BfclCase("irrelevance_0", [], [WEATHER], None))
    preds = [
        {"calls": [call(location="boston")], "parse_error": None},  # correct
        {"calls": [call(location="Chicago")], "parse_error": None},  # valid, wrong value
        {"calls": None, "parse_error": "no JSON found"},  # unparsed
        {"calls": [call(location="Boston", days="x")], "parse_error": None},  # ill-typed extra
        {"calls": [], "parse_error": None},  # correct abstention
    ]
    result = score(cases, preds)
    assert result["n"] == 5
    assert result["accuracy"] == pytest.approx(2 / 5)
    assert result["valid_rate"] == pytest.approx(3 / 5)
    errors = {k: v for k, v in result["errors"].items() if v}
    assert errors == {"value_error": 1, "parse_error": 1, "unexpected_param": 1}
    assert set(result["errors"]) == set(ERROR_TYPES)
    assert [r["valid"] for r in result["per_case"]] == [True, False, False, False, True]


def test_score_rejects_misaligned_predictions():
    cases = [BfclCase("simple_0", [], [WEATHER], [gt(location=["B"])])]
    with pytest.raises(BfclFormatError, match="1 cases but 0 predictions"):
        score(cases, [])
    with pytest.raises(BfclFormatError, match="is for 'simple_9'"):
        score(cases, [{"id": "simple_9", "calls": [], "parse_error": None}])
    with pytest.raises(BfclFormatError, match="no 'calls' key"):
        score(cases, [{"parse_error": None}])
