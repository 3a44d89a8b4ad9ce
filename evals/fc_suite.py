"""Function-calling cases in BFCL v4's format, generated from a pool of functions and wordings.

A pool (``evals/fc_pools/<name>.yaml``; ``load_pool``) holds functions, each with typed parameters and
several request wordings with ``{parameter}`` slots, requests no function serves (``irrelevant``),
templates that join two requests into one message (``joins``) and, in a training pool, replies that
decline (``declines``). The packaged ``train`` pool is for training and development; ``test`` was
written blind by someone who saw neither the train pool nor any result, and is never edited.

``generate_cases(pool, category, n, seed)`` draws ``n`` cases of one of ``CATEGORIES``:

- ``simple``: one function offered, one call expected;
- ``multiple``: 2-4 functions offered, one of them called;
- ``parallel``: one function, 2-3 requests joined in one message, one call per request;
- ``parallel_multiple``: 2-3 different functions each asked for in one message (plus a distractor);
- ``irrelevance``: 1-3 functions offered, a request none of them serves: the right answer is no call.

Values said in the request are the accepted argument; an optional parameter the request does not
mention accepts "" (left out) or its default, as BFCL's possible answers do. ``write_bfcl_set`` writes
``BFCL_v4_<category>.json`` and ``possible_answer/BFCL_v4_<category>.json`` (BFCL's own layout);
``training_examples`` turns cases into step-format examples (``train lora``'s ``train.jsonl``): the
calls as the canonical step, or a decline reply for an irrelevance case. The same pool, category, n
and seed give the same cases.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentspec.errors import AgentSpecError

__all__ = ["CATEGORIES", "FcPoolError", "Pool", "generate_cases", "load_pool", "parse_categories",
           "training_examples", "write_bfcl_set"]

CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
POOL_DIR = Path(__file__).resolve().parent / "fc_pools"
_TYPES = ("string", "integer", "float", "boolean", "array")
_SLOT = re.compile(r"\{(\w+)\}")


class FcPoolError(AgentSpecError):
    """A function pool that cannot be used: missing, not YAML, or breaking a rule of the format."""

    code = "fc_pool"


@dataclass(frozen=True)
class Pool:
    name: str
    functions: list[dict[str, Any]]
    irrelevant: list[str]
    joins: list[str]
    declines: list[str]
    heldout: bool

    def function(self, name: str) -> dict[str, Any]:
        return next(f for f in self.functions if f["name"] == name)


# ---- loading ---------------------------------------------------------------------------------------

def load_pool(name_or_path: str | Path) -> Pool:
    """A packaged pool by name (``train``, ``test``) or a pool file; every rule checked (``FcPoolError``)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = POOL_DIR / f"{name_or_path}.yaml"
    hint = f"pass a pool file or one of: {', '.join(sorted(p.stem for p in POOL_DIR.glob('*.yaml')))}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FcPoolError(f"cannot read the function pool {path} ({exc.strerror or exc})", hint=hint) from None
    except yaml.YAMLError as exc:
        raise FcPoolError(f"{path} is not valid YAML ({exc})", hint="fix the YAML syntax") from None
    if not isinstance(data, dict) or not isinstance(data.get("functions"), list) or not data["functions"]:
        raise FcPoolError(f"{path}: expected a mapping with a non-empty 'functions' list", hint=hint)
    for function in data["functions"]:
        _check_function(path, function)
    for key in ("irrelevant", "joins"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise FcPoolError(f"{path}: '{key}' must be a non-empty list of strings", hint="see evals/fc_suite.py")
    for join in data["joins"]:
        if set(_SLOT.findall(join)) != {"a", "b"}:
            raise FcPoolError(f"{path}: join {join!r} must hold {{a}} and {{b}} once each", hint="fix the join")
    return Pool(str(data.get("name", path.stem)), data["functions"], list(data["irrelevant"]), list(data["joins"]),
                list(data.get("declines") or ()), bool(data.get("heldout", False)))


def _check_function(path: Path, function: Any) -> None:
    where = f"{path}: function {function.get('name') if isinstance(function, dict) else function!r}"
    if not isinstance(function, dict) or not isinstance(function.get("parameters"), dict):
        raise FcPoolError(f"{where}: needs a name, a description, parameters and questions", hint="see fc_suite")
    params = function["parameters"]
    for pname, p in params.items():
        kind = p.get("type")
        if kind not in _TYPES:
            raise FcPoolError(f"{where}: parameter {pname!r} has type {kind!r}", hint=f"use one of {_TYPES}")
        if kind in ("integer", "float") and not ("min" in p and "max" in p):
            raise FcPoolError(f"{where}: parameter {pname!r} needs min and max", hint="give the range to draw from")
        if kind in ("string", "array") and "enum" not in p and len(p.get("values") or ()) < 2:
            raise FcPoolError(f"{where}: parameter {pname!r} needs 'values' (or an enum)", hint="list the values")
    required = {n for n, p in params.items() if p.get("required")}
    for question in function.get("questions") or ():
        text, fixed = _question_parts(question)
        slots = _SLOT.findall(text)
        unknown = [s for s in slots if s not in params]
        if unknown or len(slots) != len(set(slots)) or set(fixed) - set(params):
            raise FcPoolError(f"{where}: question {text!r} names unknown or repeated parameters",
                              hint="every {slot} names one parameter, at most once")
        if required - set(slots) - set(fixed):
            raise FcPoolError(f"{where}: question {text!r} leaves out {sorted(required - set(slots) - set(fixed))}",
                              hint="every required parameter appears in every question")
        if any(params[s]["type"] == "boolean" for s in slots):
            raise FcPoolError(f"{where}: question {text!r} has a boolean slot", hint="give booleans with 'set'")
    if not function.get("questions"):
        raise FcPoolError(f"{where}: no questions", hint="write the wordings of a request it serves")


def _question_parts(question: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(question, str):
        return question, {}
    return str(question.get("text", "")), dict(question.get("set") or {})


def parse_categories(text: str) -> tuple[str, ...]:
    """``"simple, parallel"`` -> ``("simple", "parallel")``; an unknown or no category is an ``FcPoolError``."""
    chosen = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown or not chosen:
        raise FcPoolError(f"unknown categories {unknown or text!r}", hint=f"use some of {', '.join(CATEGORIES)}")
    return chosen


# ---- one request -----------------------------------------------------------------------------------

def bfcl_function(function: dict[str, Any]) -> dict[str, Any]:
    """A pool function as BFCL writes functions (``"type": "dict"`` parameters)."""
    props = {}
    for name, p in function["parameters"].items():
        prop: dict[str, Any] = {"type": p["type"], "description": p.get("description", "")}
        if p["type"] == "array":
            prop["items"] = {"type": "string"}
        if "enum" in p:
            prop["enum"] = list(p["enum"])
        if "default" in p:
            prop["default"] = p["default"]
        props[name] = prop
    return {"name": function["name"], "description": function.get("description", ""),
            "parameters": {"type": "dict", "properties": props,
                           "required": [n for n, p in function["parameters"].items() if p.get("required")]}}


def _draw(p: dict[str, Any], rng: random.Random) -> tuple[Any, str]:
    """(argument value, its words in the request) for one slot."""
    if "enum" in p:
        value = rng.choice(p["enum"])
        return value, str(value)
    if p["type"] == "integer":
        value = rng.randint(int(p["min"]), int(p["max"]))
        return value, str(value)
    if p["type"] == "float":
        decimals = int(p.get("decimals", 1))
        value = round(rng.uniform(float(p["min"]), float(p["max"])), decimals)
        return float(value), f"{value:.{decimals}f}"
    if p["type"] == "array":
        values = rng.sample(list(p["values"]), k=min(len(p["values"]), rng.randint(2, 3)))
        return values, ", ".join(values[:-1]) + " and " + values[-1]
    value = rng.choice(p["values"])
    return value, str(value)


def _request(function: dict[str, Any], rng: random.Random) -> tuple[str, dict[str, Any]]:
    """(the request's words, the arguments it gives) for one wording of ``function``."""
    text, fixed = _question_parts(rng.choice(function["questions"]))
    arguments = dict(fixed)
    for slot in _SLOT.findall(text):
        value, words = _draw(function["parameters"][slot], rng)
        arguments[slot] = value
        text = text.replace("{" + slot + "}", words, 1)
    order = list(function["parameters"])
    return text, dict(sorted(arguments.items(), key=lambda kv: order.index(kv[0])))


def _accepted(function: dict[str, Any], arguments: dict[str, Any]) -> dict[str, list[Any]]:
    """BFCL's possible answer for one call: the said values, "" or the default for the unsaid."""
    out = {}
    for name, p in function["parameters"].items():
        if name in arguments:
            out[name] = [arguments[name]]
        elif not p.get("required"):
            out[name] = ["", p["default"]] if "default" in p else [""]
    return out


def _joined(pool: Pool, texts: list[str], rng: random.Random) -> str:
    message = texts[0]
    for text in texts[1:]:
        second = text if text[:1] == "{" or re.match(r"I\b|I'", text) else text[:1].lower() + text[1:]
        message = rng.choice(pool.joins).replace("{a}", message).replace("{b}", second)
    return message


# ---- cases -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FcCase:
    """One generated case: ``calls`` are (function name, arguments) pairs; none for irrelevance."""

    id: str
    message: str
    offered: list[str]
    calls: list[tuple[str, dict[str, Any]]]


def _case(pool: Pool, category: str, index: int, rng: random.Random) -> FcCase:
    names = [f["name"] for f in pool.functions]
    if category == "irrelevance":
        return FcCase(f"{category}_{index}", rng.choice(pool.irrelevant), rng.sample(names, rng.randint(1, 3)), [])
    if category in ("simple", "multiple"):
        chosen = [rng.choice(names)]
    elif category == "parallel":
        chosen = [rng.choice(names)] * rng.randint(2, 3)
    else:
        chosen = rng.sample(names, rng.randint(2, 3))
    requests = [_request(pool.function(name), rng) for name in chosen]
    offered = list(dict.fromkeys(chosen))
    others = [n for n in names if n not in offered]
    extra = {"multiple": rng.randint(1, 3), "parallel_multiple": 1}.get(category, 0)
    offered += rng.sample(others, min(extra, len(others)))
    rng.shuffle(offered)
    message = _joined(pool, [text for text, _ in requests], rng)
    return FcCase(f"{category}_{index}", message, offered, [(n, a) for n, (_, a) in zip(chosen, requests)])


def generate_cases(pool: Pool, category: str, n: int, seed: int = 0) -> list[FcCase]:
    """``n`` cases of ``category`` drawn from ``pool`` (deterministic in pool, category, n and seed)."""
    if category not in CATEGORIES:
        raise FcPoolError(f"unknown category {category!r}", hint=f"use one of {', '.join(CATEGORIES)}")
    rng = random.Random(f"fc:{pool.name}:{category}:{seed}")
    return [_case(pool, category, i, rng) for i in range(n)]


def bfcl_rows(pool: Pool, case: FcCase) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the case's question line, its possible-answer line or None for irrelevance) in BFCL v4's format."""
    question = {"id": case.id, "question": [[{"role": "user", "content": case.message}]],
                "function": [bfcl_function(pool.function(name)) for name in case.offered]}
    if not case.calls:
        return question, None
    truth = [{name: _accepted(pool.function(name), arguments)} for name, arguments in case.calls]
    return question, {"id": case.id, "ground_truth": truth}


def write_bfcl_set(pool: Pool, out_dir: str | Path, n: int, seed: int = 0,
                   categories: tuple[str, ...] = CATEGORIES) -> dict[str, Path]:
    """Write one BFCL v4 questions file per category (answers under ``possible_answer/``); category -> path."""
    out = Path(out_dir)
    (out / "possible_answer").mkdir(parents=True, exist_ok=True)
    paths = {}
    for category in categories:
        rows = [bfcl_rows(pool, case) for case in generate_cases(pool, category, n, seed)]
        name = f"BFCL_v4_{category}.json"
        (out / name).write_text("".join(json.dumps(q) + "\n" for q, _ in rows), encoding="utf-8")
        if category != "irrelevance":
            (out / "possible_answer" / name).write_text("".join(json.dumps(a) + "\n" for _, a in rows),
                                                        encoding="utf-8")
        paths[category] = out / name
    return paths


def training_examples(pool: Pool, categories: tuple[str, ...], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` step-format examples per category: the system prompt and request the BFCL runner builds in
    ``free`` steps, and the canonical step it should answer (the calls, or a decline reply)."""
    from agentspec.decoding.steps import Reply, Step, ToolCall

    from .bfcl import BfclCase
    from .bfcl_runner import case_messages, case_tools, step_flags

    if "irrelevance" in categories and not pool.declines:
        raise FcPoolError(f"pool {pool.name!r} has no 'declines'", hint="training on abstention needs decline replies")
    rng = random.Random(f"fc-train:{pool.name}:{seed}")
    examples = []
    for category in categories:
        for case in generate_cases(pool, category, n, seed):
            question, _ = bfcl_rows(pool, case)
            bcase = BfclCase(case.id, question["question"][0], question["function"])
            tools = case_tools(bcase)
            step = Step(calls=tuple(ToolCall(name=name, arguments=args) for name, args in case.calls)) if case.calls \
                else Step(reply=Reply(text=rng.choice(pool.declines)))
            examples.append({"messages": case_messages(bcase, tools, step_flags(bcase, "free")),
                             "target": step.to_text(), "dialogue_id": f"{pool.name}-{seed}-{case.id}",
                             "intent": category, "turn": 0})
    rng.shuffle(examples)
    return examples
