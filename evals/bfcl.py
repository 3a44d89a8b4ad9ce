"""BFCL (Berkeley Function-Calling Leaderboard) cases, schema conversion and the AST checker.

- ``load_bfcl`` reads BFCL v4's JSON-lines questions (and optionally ``possible_answer``) file,
  joined by id, in question-file order. A malformed line, a duplicate id, or an id present in one
  file only raises ``BfclFormatError`` naming the file, the line and the fix; given a ``skipped``
  list, it records each such case there (``{"id", "line", "reason"}``) and goes on without it.
- ``bfcl_functions_to_json_schema`` turns a BFCL function (its dialect: ``dict``, ``float``,
  ``tuple``, ``any``) into one whose ``parameters`` is standard JSON schema, for a decoder.
- ``check_simple`` / ``check_multiple`` / ``check_parallel`` / ``check_irrelevance`` mirror the
  Python rules of BFCL's ``ast_checker.py`` (required / unexpected parameters, int-for-float, the
  "variable" relaxation, string normalisation, list / dict / list-of-dict comparison, greedy
  any-order matching), so our accuracy is comparable with the leaderboard's. ``check_case``
  picks the checker from the case id; ``score`` aggregates accuracy, valid rate and error counts.
  A case that cannot be run or checked (skipped at load, or a ``BfclFormatError`` while decoding or
  checking it) counts as a failure of type ``malformed_case``, listed with its id and reason in
  ``malformed_cases``: one bad case never aborts a run.

Not done here: running a model, decoding its text into calls (predictions arrive parsed), Java /
JavaScript type conversion, multi-turn and executable categories. A call is a plain dict
``{"name": str, "arguments": dict}``; ``arguments`` may be a JSON string, as on the OpenAI wire.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

__all__ = [
    "ERROR_TYPES", "BfclCase", "BfclFormatError", "CheckResult", "bfcl_functions_to_json_schema",
    "bfcl_schema_to_json_schema", "category_of", "check_case", "check_irrelevance",
    "check_multiple", "check_parallel", "check_relevance", "check_simple", "load_bfcl",
    "normalize_string", "score", "validate_call",
]

# Stable, short failure kinds (BFCL's "checker:kind" strings without the checker prefix).
ERROR_TYPES: tuple[str, ...] = (
    "parse_error",  # the prediction never became calls (decoder failure)
    "malformed_call",  # a call without a string name or with non-object arguments
    "wrong_count",  # number of calls differs from the number expected
    "wrong_func_name", "missing_required",
    "unexpected_param",  # not in the schema, or not in the ground truth (BFCL rejects both)
    "missing_optional",  # omitted a parameter whose accepted values do not include ""
    "type_error", "value_error",
    "cannot_find_match",  # parallel: some expected call matched no remaining model call
    "irrelevance_call",  # irrelevance case: a call was made
    "relevance_no_call",  # relevance case: no call was made
    "malformed_case",  # the case itself cannot be run or checked (see ``malformed_cases``)
)

# BFCL's PYTHON_TYPE_MAPPING ("any" is checked as str there, and so here). "number"/"object" are
# accepted too so that schemas already in standard JSON-schema spelling check the same way.
_PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "number": float, "boolean": bool,
    "array": list, "tuple": list, "dict": dict, "object": dict, "any": str,
}
_NESTED_TYPES = ("array", "tuple")  # BFCL checks element types one level deep for these
_JSON_TYPES = {"dict": "object", "object": "object", "float": "number", "number": "number",
               "tuple": "array", "array": "array", "integer": "integer", "string": "string",
               "boolean": "boolean", "null": "null"}
_NORMALISE_RE = re.compile(r"[ ,./\-_*^]")
_MISSING = object()


class BfclFormatError(AgentSpecError, ValueError):
    """A BFCL file, case or prediction that does not have the expected shape."""

    code = "bfcl_format"


@dataclass(frozen=True)
class BfclCase:
    """One BFCL question: the first turn's messages, the offered functions, the accepted calls.

    ``ground_truth`` is BFCL's list of ``{func_name: {param: [accepted values]}}`` entries, or None
    when no answers file was given (irrelevance categories have none).
    """

    id: str
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    ground_truth: list[dict[str, dict[str, list[Any]]]] | None = None

    @property
    def category(self) -> str:
        return category_of(self.id)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``error_type`` is one of ``ERROR_TYPES`` when ``valid`` is False."""

    valid: bool
    error_type: str | None = None
    detail: str = ""


_OK = CheckResult(True)


def _fail(error_type: str, detail: str) -> CheckResult:
    return CheckResult(False, error_type, detail)


# ---- Loading -------------------------------------------------------------------------------------

def _question_problem(obj: dict[str, Any]) -> str | None:
    turns = obj.get("question")
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], list):
        return "'question' must be a non-empty list of turns, each a list of messages"
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str)
               and isinstance(m.get("content"), str) for m in turns[0]):
        return "each message needs string 'role' and 'content'"
    funcs = obj.get("function")
    if not isinstance(funcs, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str)
            and isinstance(f.get("parameters"), dict) for f in funcs):
        return "'function' must be a list of functions with a 'name' and a 'parameters' object"
    for f in funcs:
        problem = _definition_problem(f["parameters"], f"function {f['name']!r}: parameters")
        if problem:
            return problem
    return None


def _definition_problem(schema: dict[str, Any], path: str) -> str | None:
    """Where a function's schema breaks the shape BFCL's own files have: ``type`` a string,
    ``properties`` an object of schemas, ``required`` a list of names, ``items`` a schema (or a list)."""
    if "type" in schema and not isinstance(schema["type"], str):
        return f"{path}: 'type' must be a string"
    props = schema.get("properties", {})
    if not isinstance(props, dict) or not all(isinstance(sub, dict) for sub in props.values()):
        return f"{path}: 'properties' must map each parameter name to a schema object"
    required = schema.get("required", [])
    if not isinstance(required, (list, bool)) or (
            isinstance(required, list) and not all(isinstance(name, str) for name in required)):
        return f"{path}: 'required' must be a list of parameter names"
    items = schema.get("items")
    subs = [(f"{path}.properties.{name}", sub) for name, sub in props.items()]
    if items is None:
        pass
    elif isinstance(items, dict):
        subs.append((f"{path}.items", items))
    elif isinstance(items, list) and all(isinstance(sub, dict) for sub in items):
        subs += [(f"{path}.items[{i}]", sub) for i, sub in enumerate(items)]
    else:
        return f"{path}: 'items' must be a schema object (or a list of them)"
    for sub_path, sub in subs:
        problem = _definition_problem(sub, sub_path)
        if problem:
            return problem
    return None


def _answer_problem(obj: dict[str, Any]) -> str | None:
    gt = obj.get("ground_truth")
    if not isinstance(gt, list) or not all(isinstance(e, dict) and len(e) == 1 for e in gt):
        return "'ground_truth' must be a list of {function_name: {param: [accepted values]}}"
    for entry in gt:
        params = next(iter(entry.values()))
        if not isinstance(params, dict) or not all(isinstance(v, list) for v in params.values()):
            return "each ground-truth parameter must map to a list of accepted values"
    return None


_Rows = dict[str, tuple[int, dict[str, Any]]]  # id -> (line number, object)


def _problem(skipped: list[dict[str, Any]] | None, case_id: str | None, where: str, reason: str,
             hint: str) -> None:
    """A malformed line: raised, or recorded in ``skipped`` (the caller then skips the line)."""
    if skipped is None:
        raise BfclFormatError(f"{where}: {reason}", hint=hint)
    skipped.append({"id": case_id, "line": where, "reason": reason})


def _line_object(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the object of one JSON line, None) or (None, what is wrong with it)."""
    try:
        obj = json.loads(raw.decode("utf-8"))
        json.dumps(obj, ensure_ascii=False).encode("utf-8")  # an escaped lone surrogate is JSON, not text
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start + 1} of the line)"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})"
    except UnicodeEncodeError:
        return None, "a string holds an unpaired surrogate escape (\\udXXX)"
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return None, "expected an object with a string 'id'"
    return obj, None


def _read_jsonl(path: Path, what: str, problem_of: Callable[[dict[str, Any]], str | None],
                skipped: list[dict[str, Any]] | None = None) -> _Rows:
    """id -> (line number, object) for one BFCL JSON-lines file, every line checked (``_problem``)."""
    rows: _Rows = {}
    hint = f"compare the line with BFCL v4's {what} format (one JSON object per line)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BfclFormatError(f"{path}: cannot read the {what} file ({exc.strerror or exc})",
                              hint="check the path") from None
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        obj, problem = _line_object(raw)
        if obj is None:
            _problem(skipped, None, f"{path}:{lineno}", str(problem), hint)
            continue
        problem = problem_of(obj)
        if problem:
            _problem(skipped, obj["id"], f"{path}:{lineno}", f"case {obj['id']!r}: {problem}", hint)
        elif obj["id"] in rows:
            _problem(skipped, obj["id"], f"{path}:{lineno}", f"duplicate id {obj['id']!r} (first at line "
                     f"{rows[obj['id']][0]})", "remove the duplicate line")
        else:
            rows[obj["id"]] = (lineno, obj)
    return rows


def load_bfcl(questions_path: str | Path, answers_path: str | Path | None = None, *,
              skipped: list[dict[str, Any]] | None = None) -> list[BfclCase]:
    """Load BFCL v4 questions (and answers, joined by id) in question-file order; malformed cases raise,
    or are appended to ``skipped`` and left out (module docstring)."""
    qpath = Path(questions_path)
    questions = _read_jsonl(qpath, "question", _question_problem, skipped)
    answers = None
    if answers_path is not None:
        apath = Path(answers_path)
        answers = _read_jsonl(apath, "possible_answer", _answer_problem, skipped)
        fix = "pass the answers file that belongs to this questions file"
        for aid, (lineno, _) in answers.items():
            if aid not in questions and skipped is None:  # skipping: an answer alone is no case to count
                raise BfclFormatError(f"{apath}:{lineno}: id {aid!r} has no question in {qpath}", hint=fix)
        for qid, (lineno, _) in list(questions.items()):
            if qid not in answers:
                if not any(s["id"] == qid for s in skipped or ()):
                    _problem(skipped, qid, f"{qpath}:{lineno}", f"id {qid!r} has no answer in {apath}",
                             fix + " (or none, for an irrelevance category)")
                del questions[qid]
    return [BfclCase(id=qid, messages=list(obj["question"][0]), functions=obj["function"],
                     ground_truth=None if answers is None else answers[qid][1]["ground_truth"])
            for qid, (_, obj) in questions.items()]


# ---- Schema conversion ---------------------------------------------------------------------------

def _items_enum(schema: dict[str, Any]) -> dict[str, Any]:
    # BFCL data puts an array's allowed element values on the array itself ("type": "array",
    # "enum": ["a", "b"]); read literally no array could match, so it means the elements.
    enum = schema.get("enum")
    if (schema.get("type") in _NESTED_TYPES and isinstance(enum, list)
            and not any(isinstance(e, list) for e in enum)
            and isinstance(schema.get("items"), dict)):
        schema = {k: v for k, v in schema.items() if k != "enum"}
        schema["items"] = {**schema["items"], "enum": enum}
    return schema


def bfcl_schema_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert one BFCL schema node (and everything under it) to standard JSON schema.

    Array-level enums of scalars move onto ``items`` (see ``_items_enum``); other keywords
    (description, enum, default, bounds, ...) are kept as they are.
    """
    schema = _items_enum(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if value == "any":
                continue  # no constraint
            if value not in _JSON_TYPES:
                raise BfclFormatError(f"unknown BFCL type {value!r}",
                                      hint=f"use one of {sorted(set(_PY_TYPES))}")
            out["type"] = _JSON_TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: bfcl_schema_to_json_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, list):
            out["prefixItems"] = [bfcl_schema_to_json_schema(sub) for sub in value]  # tuple form
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = bfcl_schema_to_json_schema(value)
        elif key == "required" and not isinstance(value, list):
            continue  # a per-property boolean "required" is not JSON schema; the parent list rules
        else:
            out[key] = value  # description, enum, default, bounds, ... kept as they are
    return out


def bfcl_functions_to_json_schema(function: dict[str, Any]) -> dict[str, Any]:
    """One BFCL function -> ``{"name", "description", "parameters": <JSON schema object>}``."""
    params = bfcl_schema_to_json_schema(function.get("parameters") or {"type": "dict"})
    params.setdefault("type", "object")
    return {"name": function["name"], "description": function.get("description", ""),
            "parameters": params}


# ---- BFCL's AST checker (Python rules) -----------------------------------------------------------

def normalize_string(text: str) -> str:
    """BFCL's ``standardize_string``: drop spaces and ``,./-_*^``, lower-case, ' -> "."""
    return _NORMALISE_RE.sub("", text).lower().replace("'", '"')


def _norm(value: Any) -> Any:
    return normalize_string(value) if type(value) is str else value


def _answer_type(accepted: list[Any]) -> type | None:
    # The first non-"" accepted value sets the type BFCL compares against ("" marks optional).
    return next((type(answer) for answer in accepted if answer != ""), None)


def _type_check(param: str, value: Any, accepted: list[Any], type_name: str,
                expected: type, nested: type | None) -> tuple[CheckResult, bool]:
    """BFCL's type_checker -> (result, is_variable). "Variable": the accepted values have another
    type than the schema's (e.g. a string for an integer), so BFCL takes their type as the truth
    and later compares values exactly, without normalisation."""
    ans_type = _answer_type(accepted)
    is_variable = ans_type is not None and ans_type is not expected
    if type(value) is expected:
        if nested is None:
            return _OK, is_variable
        for item in accepted:
            ok = True
            if type(item) is list:
                ok = all(_type_check(param, v, item, nested.__name__, nested, None)[0].valid
                         for v in value)
            if ok:
                return _OK, is_variable
        return _fail("type_error", f"parameter {param!r}: expected {type_name} of "
                     f"{nested.__name__}, got {value!r}"), False
    if ans_type is not None and type(value) is ans_type:
        return _OK, True
    return _fail("type_error", f"parameter {param!r}: expected {type_name}, got "
                 f"{type(value).__name__} ({value!r})"), False


def _list_check(param: str, value: list, accepted: list[Any]) -> CheckResult:
    mine = [_norm(v) for v in value]
    # BFCL iterates every accepted item, so "" becomes [] (omitting and [] are both fine).
    options = [[_norm(v) for v in item] for item in accepted if isinstance(item, (list, str))]
    return _OK if mine in options else _fail(
        "value_error", f"parameter {param!r}: {value!r} not among {accepted!r}")


def _dict_mismatch(value: dict, option: dict) -> str | None:
    # BFCL's dict_checker, one level: each key's value among that key's accepted values.
    for key, sub in value.items():
        if key not in option:
            return f"unexpected key {key!r}"
        if _norm(sub) not in [_norm(a) for a in option[key]]:
            return f"key {key!r} = {sub!r} not among {option[key]!r}"
    missing = [key for key, values in option.items() if key not in value and "" not in values]
    return f"missing key {missing[0]!r}" if missing else None


def _dict_check(param: str, value: Any, accepted: list[Any]) -> CheckResult:
    if not isinstance(value, dict):
        return _fail("value_error", f"parameter {param!r}: expected a dict, got {value!r}")
    problem = "no accepted dict to compare with"
    for option in accepted:
        if isinstance(option, dict):  # skips "" (optional)
            problem = _dict_mismatch(value, option)
            if problem is None:
                return _OK
    return _fail("value_error", f"parameter {param!r}: {problem}")


def _list_dict_check(param: str, value: list, accepted: list[Any]) -> CheckResult:
    # Order of the dicts matters; each is compared with the dict at the same position.
    result = _fail("value_error", f"parameter {param!r}: no accepted list of dicts")
    for option in accepted:
        if not isinstance(option, (list, str)):
            continue
        if len(value) != len(option):  # "" has length 0: an empty list matches "optional"
            result = _fail("value_error", f"parameter {param!r}: wrong number of dicts")
            continue
        for item, expected in zip(value, option):
            result = _dict_check(param, item, [expected])
            if not result.valid:
                break
        else:
            return _OK
    return result


def _expected_name(function_schema: dict[str, Any], underscore_to_dot: bool) -> str:
    # BFCL's convert_func_name: models whose API forbids "." are offered (and must answer) the
    # name with "." replaced by "_". The flag keeps BFCL's (inverted-sounding) name.
    name = function_schema["name"]
    return name.replace(".", "_") if underscore_to_dot else name


def _malformed(call: Any) -> CheckResult:
    return _fail("malformed_call", f"not a call with a string name and object arguments: {call!r}")


def _call_parts(call: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    args = call.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    return (call["name"], args) if isinstance(args, dict) else None


def check_simple(function_schema: dict[str, Any], call: dict[str, Any],
                 ground_truth_entry: dict[str, dict[str, list[Any]]], *,
                 underscore_to_dot: bool = False) -> CheckResult:
    """One model call against one ground-truth entry, by BFCL's simple_function_checker rules."""
    if (parts := _call_parts(call)) is None:
        return _malformed(call)
    name, args = parts
    accepted_by_param = next(iter(ground_truth_entry.values()))
    params = function_schema["parameters"].get("properties", {})
    required = function_schema["parameters"].get("required", [])
    # 1. name
    expected_name = _expected_name(function_schema, underscore_to_dot)
    if name != expected_name:
        return _fail("wrong_func_name", f"expected {expected_name!r}, got {name!r}")
    # 2. required parameters, from the schema
    for param in required:
        if param not in args:
            return _fail("missing_required", f"missing required parameter {param!r}")
    # 3. each given parameter: known, typed, and among the accepted values
    for param, value in args.items():
        if param not in params or param not in accepted_by_param:
            return _fail("unexpected_param", f"unexpected parameter {param!r}")
        accepted = accepted_by_param[param]
        type_name = params[param].get("type", "any")
        if type_name not in _PY_TYPES:
            raise BfclFormatError(f"function {function_schema['name']!r}, parameter {param!r}: "
                                  f"unsupported type {type_name!r}",
                                  hint="only BFCL's Python categories are supported")
        expected = _PY_TYPES[type_name]
        nested = None
        if type_name in _NESTED_TYPES and isinstance(params[param].get("items"), dict):
            nested = _PY_TYPES.get(params[param]["items"].get("type", "any"), str)
        if type_name in ("float", "number") and type(value) is int:
            value = float(value)  # Python's int -> float promotion; bool is not an int here
        result, is_variable = _type_check(param, value, accepted, type_name, expected, nested)
        if not result.valid:
            return result
        if not is_variable and expected in (dict, list, str):
            # Structured and string values get BFCL's normalising comparisons; a variable (or a
            # number / bool) must be among the accepted values exactly.
            if expected is dict:
                result = _dict_check(param, value, accepted)
            elif nested is dict:
                result = _list_dict_check(param, value, accepted)
            elif expected is list:
                result = _list_check(param, value, accepted)
            elif normalize_string(value) not in [normalize_string(a) for a in accepted
                                                 if type(a) is str]:
                result = _fail("value_error", f"parameter {param!r}: {value!r} not among "
                               f"{accepted!r} (normalised)")
            if not result.valid:
                return result
            continue
        if value not in accepted:
            return _fail("value_error", f"parameter {param!r}: {value!r} not among {accepted!r}")
    # 4. parameters left out must be marked optional ("" among the accepted values)
    for param, accepted in accepted_by_param.items():
        if param not in args and "" not in accepted:
            return _fail("missing_optional", f"parameter {param!r} omitted but not optional")
    return _OK


def _find_function(functions: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    for function in functions:
        if function["name"] == name:
            return function
    raise BfclFormatError(f"ground truth names {name!r}, which is not among the offered functions",
                          hint="the questions and answers files do not belong together")


def check_multiple(functions: Sequence[dict[str, Any]], calls: Sequence[dict[str, Any]],
                   ground_truth: Sequence[dict[str, Any]], *,
                   underscore_to_dot: bool = False) -> CheckResult:
    """One call chosen among several offered functions (BFCL's multiple_function_checker)."""
    if len(calls) != len(ground_truth):
        return _fail("wrong_count", f"expected {len(ground_truth)} call(s), got {len(calls)}")
    expected = _find_function(functions, next(iter(ground_truth[0])))
    return check_simple(expected, calls[0], ground_truth[0], underscore_to_dot=underscore_to_dot)


def check_parallel(functions: Sequence[dict[str, Any]], calls: Sequence[dict[str, Any]],
                   ground_truth: Sequence[dict[str, Any]], *,
                   underscore_to_dot: bool = False) -> CheckResult:
    """Several calls in any order: each expected call takes the first unused model call that
    passes ``check_simple`` (greedy, as BFCL's parallel_function_checker_no_order)."""
    if len(calls) != len(ground_truth):
        return _fail("wrong_count", f"expected {len(ground_truth)} call(s), got {len(calls)}")
    used: set[int] = set()
    for i, entry in enumerate(ground_truth):
        function = _find_function(functions, next(iter(entry)))
        errors = []
        for j, call in enumerate(calls):
            if j in used:
                continue
            result = check_simple(function, call, entry, underscore_to_dot=underscore_to_dot)
            if result.valid:
                used.add(j)
                break
            errors.append(f"call {j}: {result.error_type}: {result.detail}")
        else:
            return _fail("cannot_find_match", f"expected call {i} ({next(iter(entry))}) matched no "
                         f"remaining call; " + "; ".join(errors))
    return _OK


def _has_call(calls: Sequence[Any] | None) -> bool:
    # BFCL counts output that does not decode into well-formed calls as "no call".
    return bool(calls) and all(_call_parts(c) is not None for c in calls)


def check_irrelevance(calls: Sequence[dict[str, Any]] | None) -> CheckResult:
    """Passes iff the model made no (well-formed) call."""
    return _fail("irrelevance_call", f"made {len(calls)} call(s) where none was expected") \
        if _has_call(calls) else _OK


def check_relevance(calls: Sequence[dict[str, Any]] | None) -> CheckResult:
    """Passes iff the model made at least one well-formed call (values are not checked)."""
    return _OK if _has_call(calls) else _fail("relevance_no_call", "no call was made")


def category_of(case_id: str) -> str:
    """``live_simple_0-0-0`` -> ``live_simple``; ``parallel_multiple_3`` -> ``parallel_multiple``"""
    return case_id.rsplit("_", 1)[0]


def check_case(case: BfclCase, calls: Sequence[dict[str, Any]] | None, *,
               underscore_to_dot: bool = False) -> CheckResult:
    """Check one case's calls with the checker its category calls for (as BFCL dispatches)."""
    category = case.category
    if "irrelevance" in category:
        return check_irrelevance(calls)
    if "relevance" in category:
        return check_relevance(calls)
    if "java" in category or category.startswith("multi_turn"):
        raise BfclFormatError(f"case {case.id!r}: category {category!r} is not supported",
                              hint="only BFCL's Python AST categories can be checked here")
    if case.ground_truth is None:
        raise BfclFormatError(f"case {case.id!r} has no ground truth",
                              hint="load it with its possible_answer file")
    if calls is None:
        return _fail("parse_error", "no calls were parsed")
    for call in calls:
        if _call_parts(call) is None:
            return _malformed(call)
    kw = {"underscore_to_dot": underscore_to_dot}
    if "parallel" in category:
        return check_parallel(case.functions, calls, case.ground_truth, **kw)
    if "multiple" in category:
        return check_multiple(case.functions, calls, case.ground_truth, **kw)
    if len(calls) != 1:
        return _fail("wrong_count", f"expected 1 call, got {len(calls)}")
    return check_simple(case.functions[0], calls[0], case.ground_truth[0], **kw)


# ---- Schema validity (no ground truth): what a constrained decoder guarantees --------------------

def _schema_problem(value: Any, schema: dict[str, Any], path: str) -> CheckResult | None:
    default = schema.get("default", _MISSING)
    if type(value) is type(default) and value == default:
        return None  # the schema itself names this value (BFCL has defaults outside the enum, None)
    schema = _items_enum(schema)
    type_name = schema.get("type", "any")
    if type_name != "any":
        expected = _PY_TYPES.get(type_name)
        if expected is None:
            return _fail("type_error", f"{path}: unsupported schema type {type_name!r}")
        ok = type(value) is expected or (expected is float and type(value) is int)
        if not ok:
            return _fail("type_error", f"{path}: expected {type_name}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        return _fail("value_error", f"{path}: {value!r} not in enum {schema['enum']!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = _schema_problem(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []) if isinstance(schema.get("required"), list) else []:
            if key not in value:
                return _fail("missing_required", f"{path}: missing key {key!r}")
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, dict) else None)
            if sub_schema is None:
                if extra is False:
                    return _fail("unexpected_param", f"{path}: unexpected key {key!r}")
                continue
            problem = _schema_problem(sub, sub_schema, f"{path}.{key}")
            if problem:
                return problem
    return None


def validate_call(functions: Sequence[dict[str, Any]], call: Any, *,
                  underscore_to_dot: bool = False) -> CheckResult:
    """Is ``call`` a well-formed call of an offered function with schema-valid arguments?

    Checks name, required and unknown parameters, types (int accepted for float; bool is not an
    int), enums, and nested items/properties. Needs no ground truth.
    """
    if (parts := _call_parts(call)) is None:
        return _malformed(call)
    name, args = parts
    for function in functions:
        if _expected_name(function, underscore_to_dot) == name:
            schema = dict(function["parameters"], additionalProperties=False)
            return _schema_problem(args, schema, name) or _OK
    return _fail("wrong_func_name", f"{name!r} is not an offered function")


# ---- Aggregate -----------------------------------------------------------------------------------

def score(cases: Sequence[BfclCase], predictions: Sequence[dict[str, Any]], *,
          underscore_to_dot: bool = False, skipped: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Score one prediction per case (same order) -> accuracy, valid rate, error counts.

    A prediction is ``{"calls": [{"name", "arguments"}] | None, "parse_error": str | None}``,
    optionally with an ``"id"`` that must equal its case's id, and ``"malformed": reason`` for a case
    that could not be run. ``valid_rate`` is the share of predictions that parsed (``calls`` is a
    list, no parse error) and whose every call passes ``validate_call``; an empty list of calls counts
    as a valid (no-call) answer. The cases ``load_bfcl`` skipped (``skipped``) count as failures too:
    each malformed case is a ``malformed_case`` error, listed in ``malformed_cases`` with its reason.
    """
    if len(cases) != len(predictions):
        raise BfclFormatError(f"{len(cases)} cases but {len(predictions)} predictions",
                              hint="give exactly one prediction per case, in case order")
    if not cases and not skipped:
        raise BfclFormatError("no cases to score", hint="load a non-empty BFCL file")
    errors = dict.fromkeys(ERROR_TYPES, 0)
    per_case = []
    malformed: list[dict[str, Any]] = []
    n_correct = n_valid = 0
    for i, (case, pred) in enumerate(zip(cases, predictions)):
        if not isinstance(pred, dict) or "calls" not in pred:
            raise BfclFormatError(f"prediction {i} (case {case.id!r}) has no 'calls' key",
                                  hint='use {"calls": [...] | None, "parse_error": str | None}')
        if pred.get("id", case.id) != case.id:
            raise BfclFormatError(f"prediction {i} is for {pred['id']!r}, case {i} is {case.id!r}",
                                  hint="keep predictions in the same order as the cases")
        calls = pred["calls"] if pred.get("parse_error") is None else None
        if calls is not None and not isinstance(calls, list):
            raise BfclFormatError(f"prediction {i} (case {case.id!r}): 'calls' is not a list",
                                  hint="give a list of calls, or null when nothing parsed")
        try:
            if pred.get("malformed"):
                raise BfclFormatError(str(pred["malformed"]))
            result = check_case(case, calls, underscore_to_dot=underscore_to_dot)
            valid = calls is not None and all(validate_call(
                case.functions, c, underscore_to_dot=underscore_to_dot).valid for c in calls)
        except BfclFormatError as exc:
            result, valid = _fail("malformed_case", exc.message), False
            malformed.append({"id": case.id, "reason": exc.message})
        if result.valid:
            n_correct += 1
        else:
            errors[result.error_type] += 1
        n_valid += valid
        per_case.append({"id": case.id, **asdict(result), "schema_valid": valid})
    for entry in skipped:
        errors["malformed_case"] += 1
        malformed.append({"id": entry["id"], "reason": f"{entry['line']}: {entry['reason']}"})
        per_case.append({"id": entry["id"], **asdict(_fail("malformed_case", entry["reason"])), "schema_valid": False})
    n = len(cases) + len(skipped)
    return {"n": n, "accuracy": n_correct / n, "valid_rate": n_valid / n,
            "errors": errors, "per_case": per_case, "malformed_cases": malformed}
