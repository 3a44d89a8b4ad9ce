"""Decoding benchmark: grammar-constrained vs unconstrained steps on the bundled model, in one run.

Same model (SmolLM2-135M Q4_1), same thread count, same prompts, greedy. Prints context lines, then
as its LAST line one JSON object:

- constrained_ratio          decode tokens/s under the step grammar ÷ unconstrained (goal >= 0.95),
                             over the retail steps below (same prompts both ways)
- valid_constrained          share of the retail steps that parse and validate (parse_step with the
                             conversation's grounding), decoded under the grammar, one attempt
- valid_unconstrained        the same, unconstrained (the prompt asks for the same JSON), one attempt
- compile_p50_ms / _p95_ms   step schema + llguidance grammar build for a NEW tool set (random subsets
                             of the 16 retail tools with random grounding), i.e. a cache miss
- outlines_core_compile_ms   outlines' default backend building a processor for the full 16-tool step
                             schema, for comparison (subprocess, capped at --outlines-timeout seconds)
- grounding_update_p50_ms    one new tool observation: observe ids + rebuild the grammar (16 tools)
- hallucinated_ids_grounded / _ungrounded   over --steps retail-style steps (>= 100; generated from
                             the tau2 retail db: ids seen in the user's words, ids seen only in a tool
                             observation, and requests naming no id at all), the number of calls whose
                             identifier argument never appeared in the conversation, with the grounded
                             grammar and with the same grammar without grounding
- bfcl_vs_bare               agentspec's accuracy on the first --bfcl-limit live-simple cases (default
                             30 to fit ~10 minutes; 0 = all 258) ÷ that of a plain outlines JSON-schema
                             call (outlines.Generator + JsonSchema, default backend) with a minimal prompt

Usage: python benchmarks/decoding.py [--threads 1] [--steps 100] [--bfcl-limit 30] [--smoke]

--smoke: every measurement on a few cases (4 steps, 3 compiles and updates, 2 BFCL cases; seconds,
not figures): what CI runs so the benchmark cannot rot.

--threads defaults to 1: on a shared 2-core machine llama.cpp's multi-thread barriers collapse when
another process competes for the cores (measured 0.7 vs 39 tokens/s); ratios are what matter here.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentspec.decoding import GrammarCache, Grounding, StepDecoder, parse_step, step_schema, tools_prompt
from agentspec.decoding.constraint import StepConstraint
from agentspec.decoding.steps import _identifiers
from agentspec.errors import MalformedStepError
from agentspec.evals.bfcl import bfcl_functions_to_json_schema, load_bfcl, score
from agentspec.tools.retail import RETAIL_SHAPES
from agentspec.evals.bfcl_runner import DEFAULT_SETTINGS, predict
from agentspec.runtime.base import GenerationSettings
from agentspec.runtime.llamacpp import LlamaCppChatModel
from agentspec.toolkit import ToolRegistry
from agentspec.tools.retail import RetailStore

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STEP_TOOLS = ["find_user_id_by_email", "get_user_details", "get_order_details", "get_item_details",
              "cancel_pending_order", "return_delivered_order_items"]
SYSTEM = "You are a customer service agent of an online retail store. Help the user with their orders."


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---- retail steps -------------------------------------------------------------------------------

def retail_steps(db: dict[str, Any], registry: ToolRegistry, n: int) -> list[list[dict[str, Any]]]:
    """``n`` conversations ending in a user turn, four kinds cycled (see the module docstring)."""
    users = sorted(db["users"].values(), key=lambda u: u["user_id"])
    users = [u for u in users if u["orders"]]
    # The retail agent lists its tools as signatures (agentspec/specs/retail.yaml: prompts.tools).
    system = {"role": "system", "content": SYSTEM + "\n\n" + tools_prompt(registry.tools, style="signatures")}
    convos = []
    for i in range(n):
        user = users[(i * 7) % len(users)]
        order_id = user["orders"][0]
        kind = i % 4
        if kind == 0:  # the id is in the user's words
            convos.append([system, {"role": "user", "content": f"Hi, I'm {user['user_id']}. What is the status of order {order_id}?"}])
        elif kind == 1:  # the ids are only in a tool observation
            obs = registry.call("get_user_details", {"user_id": user["user_id"]}).observation
            convos.append([system, {"role": "user", "content": f"Hello, my user id is {user['user_id']}."},
                           {"role": "assistant", "content": json.dumps({"calls": [{"name": "get_user_details", "arguments": {"user_id": user["user_id"]}}]})},
                           {"role": "user", "content": f"Tool result of get_user_details: {obs}"},
                           {"role": "user", "content": "Can you check my most recent order?"}])
        elif kind == 2:  # no order id anywhere: an order tool must not be called with one
            convos.append([system, {"role": "user", "content": f"I'm {user['user_id']}. Please cancel my last order, I ordered it by mistake."}])
        else:  # items seen in an order observation
            obs = registry.call("get_order_details", {"order_id": order_id}).observation
            convos.append([system, {"role": "user", "content": f"I want to return something from order {order_id}."},
                           {"role": "assistant", "content": json.dumps({"calls": [{"name": "get_order_details", "arguments": {"order_id": order_id}}]})},
                           {"role": "user", "content": f"Tool result of get_order_details: {obs}"},
                           {"role": "user", "content": "Return the first item please, refund to the original payment method."}])
    return convos


def seen_ids(convo: list[dict[str, Any]]) -> Grounding:
    g = Grounding.from_shapes(RETAIL_SHAPES)
    for message in convo[1:]:
        if message["role"] == "user":
            g.observe_text(message["content"].removeprefix("Tool result of get_user_details: ").removeprefix("Tool result of get_order_details: "))
    return g


ARMS = {"grounded": ("auto", True), "ungrounded": ("auto", False), "free": ("validate", True)}


def run_steps(model, registry, convos, *, settings) -> dict[str, dict[str, Any]]:
    """The three arms on every conversation, interleaved (arm A, B, C on convo 1, then convo 2, ...).

    Interleaving makes a change of machine load during the run hit every arm alike, so the speed
    ratio compares like with like (a first version ran the arms one after another and its ratio moved
    with whatever else the machine was doing).
    """
    decoders = {arm: StepDecoder(model, mode=mode, max_attempts=1) for arm, (mode, _) in ARMS.items()}
    stats = {arm: {"valid": 0, "hallucinated": 0, "calls": 0, "tokens": 0, "decode_s": 0.0} for arm in ARMS}
    for convo in convos:
        seen = seen_ids(convo)
        for arm, (_, grounded) in ARMS.items():
            st = stats[arm]
            decided = decoders[arm].decide(convo, registry.tools, seen if grounded else None, settings=settings)
            c = decided.completion
            st["tokens"] += max(0, c.usage.completion_tokens - 1)
            st["decode_s"] += max(0.0, c.timings.total_s - c.timings.ttft_s)
            try:
                step = parse_step(decided.text.strip(), registry.tools, None)
            except MalformedStepError:
                continue
            try:
                parse_step(decided.text.strip(), registry.tools, seen)
                st["valid"] += 1
            except MalformedStepError:
                pass
            for call in step.calls:
                st["calls"] += 1
                tool = registry.get(call.name)
                if any((kind, value) not in seen for _, kind, value, _ in _identifiers(tool.parameters, call.arguments, "")):
                    st["hallucinated"] += 1
    return {arm: {"valid": st["valid"] / len(convos), "hallucinated": st["hallucinated"], "calls": st["calls"],
                  "tps": st["tokens"] / st["decode_s"] if st["decode_s"] else 0.0} for arm, st in stats.items()}


# ---- compile cost -------------------------------------------------------------------------------

def compile_costs(constraint: StepConstraint, registry: ToolRegistry, store_db: dict, n: int = 40) -> list[float]:
    rng = random.Random(0)
    tools = registry.tools
    orders = sorted(store_db["orders"])
    times = []
    for _ in range(n):
        subset = rng.sample(tools, rng.randint(3, len(tools)))
        g = Grounding.from_shapes(RETAIL_SHAPES, {"order": rng.sample(orders, rng.randint(1, 5))})
        start = time.perf_counter()
        constraint.compile(step_schema(subset, g))
        times.append((time.perf_counter() - start) * 1e3)
    return times


def grounding_updates(model, registry: ToolRegistry, store_db: dict, n: int = 30) -> list[float]:
    decoder = StepDecoder(model, cache=GrammarCache())
    g = Grounding.from_shapes(RETAIL_SHAPES)
    orders = sorted(store_db["orders"])
    times = []
    for i in range(n):
        observation = registry.call("get_order_details", {"order_id": orders[i]}).observation
        start = time.perf_counter()
        g.observe_text(observation)
        decoder._grammar(registry.tools, g, {"allow_reply": True, "require_tool": False, "parallel": True, "max_calls": 4})
        times.append((time.perf_counter() - start) * 1e3)
    return times


_OUTLINES_PROBE = """
import json, sys, time
import outlines
from outlines.backends.outlines_core import OutlinesCoreBackend
from agentspec.runtime.llamacpp import LlamaCppChatModel
m = LlamaCppChatModel(n_threads=1, n_ctx=512)
backend = OutlinesCoreBackend(outlines.from_llamacpp(m.llm))
schema = sys.stdin.read()
t = time.perf_counter()
backend.get_json_schema_logits_processor(schema)
print((time.perf_counter() - t) * 1e3)
"""


def outlines_core_ms(schema: dict[str, Any], timeout: float) -> float | None:
    try:
        out = subprocess.run([sys.executable, "-c", _OUTLINES_PROBE], input=json.dumps(schema), text=True,
                             capture_output=True, timeout=timeout)
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


# ---- BFCL: agentspec vs a bare outlines call ----------------------------------------------------

def bare_outlines_predictions(model: LlamaCppChatModel, cases) -> list[dict[str, Any]]:
    import outlines
    from outlines.types import JsonSchema

    om = outlines.from_llamacpp(model.llm)
    preds = []
    for case in cases:
        fn = bfcl_functions_to_json_schema(case.functions[0])
        schema = {"type": "object", "properties": {"name": {"const": fn["name"]}, "arguments": fn["parameters"]},
                  "required": ["name", "arguments"]}
        prompt = model.template.render([{"role": "user", "content": f"{case.messages[-1]['content']}\n\n"
                                         f"Function: {json.dumps(fn)}\nAnswer with the function call as JSON."}])
        try:
            text = outlines.Generator(om, JsonSchema(schema))(prompt, max_tokens=256, temperature=0.0)
            call = json.loads(text)
            preds.append({"calls": [call], "parse_error": None})
        except Exception as exc:  # noqa: BLE001 - a failed bare call is a parse error of the baseline
            preds.append({"calls": None, "parse_error": f"{type(exc).__name__}: {exc}"})
    return preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--bfcl-limit", type=int, default=30)
    ap.add_argument("--outlines-timeout", type=float, default=120.0)
    ap.add_argument("--smoke", action="store_true", help="a few cases of everything (CI)")
    args = ap.parse_args()
    repeats = 3 if args.smoke else None
    if args.smoke:
        args.steps, args.bfcl_limit, args.outlines_timeout = 4, 2, min(args.outlines_timeout, 60.0)

    store = RetailStore.from_json(DATA / "tau2-retail" / "db.json")
    full = ToolRegistry([store])
    step_registry = full.subset(STEP_TOOLS)
    db = json.loads((DATA / "tau2-retail" / "db.json").read_text())
    model = LlamaCppChatModel(n_threads=args.threads, n_ctx=4096, seed=0)
    t0 = time.perf_counter()
    constraint = StepConstraint.for_model(model)
    print(f"tokenizer + self-check: {(time.perf_counter() - t0) * 1e3:.0f} ms (once per model)", flush=True)

    compiles = compile_costs(constraint, full, db, *([repeats] if repeats else []))
    print(f"llguidance compile for a new tool set: p50 {pct(compiles, .5):.1f} ms, p95 {pct(compiles, .95):.1f} ms", flush=True)
    updates = grounding_updates(model, full, db, *([repeats] if repeats else []))
    print(f"grounding update (observe + rebuild, 16 tools): p50 {pct(updates, .5):.1f} ms", flush=True)
    full_schema = step_schema(full.tools, Grounding.from_shapes(RETAIL_SHAPES, {"order": sorted(db["orders"])[:3]}))
    oc = outlines_core_ms(full_schema, args.outlines_timeout)
    print(f"outlines_core processor for the same 16-tool schema: {oc if oc is None else round(oc)} ms", flush=True)

    convos = retail_steps(db, step_registry, args.steps)
    settings = GenerationSettings(max_tokens=96, temperature=0.0)
    arms = run_steps(model, step_registry, convos, settings=settings)
    grounded, ungrounded, free = arms["grounded"], arms["ungrounded"], arms["free"]
    print(f"retail steps, grammar + grounding: {grounded}", flush=True)
    print(f"retail steps, grammar, no grounding: {ungrounded}", flush=True)
    print(f"retail steps, unconstrained: {free}", flush=True)

    questions = DATA / "bfcl-live-simple" / "BFCL_v4_live_simple.json"
    cases = load_bfcl(questions, DATA / "bfcl-live-simple" / "possible_answer.json")
    if args.bfcl_limit:
        cases = cases[: args.bfcl_limit]
    decoder = StepDecoder(model, max_attempts=1)
    ours = score(cases, [predict(decoder, case, DEFAULT_SETTINGS) for case in cases])
    bare = score(cases, bare_outlines_predictions(model, cases))
    print(f"BFCL live-simple first {len(cases)}: agentspec {ours['accuracy']:.3f} (valid {ours['valid_rate']:.3f}), "
          f"bare outlines {bare['accuracy']:.3f} (valid {bare['valid_rate']:.3f})", flush=True)

    result = {
        "constrained_ratio": round(grounded["tps"] / free["tps"], 3) if free["tps"] else None,
        "constrained_tps": round(grounded["tps"], 1),
        "unconstrained_tps": round(free["tps"], 1),
        "valid_constrained": round(grounded["valid"], 3),
        "valid_unconstrained": round(free["valid"], 3),
        "compile_p50_ms": round(pct(compiles, .5), 2),
        "compile_p95_ms": round(pct(compiles, .95), 2),
        "outlines_core_compile_ms": None if oc is None else round(oc, 1),
        "grounding_update_p50_ms": round(pct(updates, .5), 2),
        "hallucinated_ids_grounded": grounded["hallucinated"],
        "hallucinated_ids_ungrounded": ungrounded["hallucinated"],
        "hallucinated_ids_unconstrained": free["hallucinated"],
        "steps": len(convos),
        "bfcl_vs_bare": round(ours["accuracy"] / bare["accuracy"], 3) if bare["accuracy"] else None,
        "bfcl_accuracy": round(ours["accuracy"], 3),
        "bfcl_bare_accuracy": round(bare["accuracy"], 3),
        "bfcl_n": len(cases),
        "threads": args.threads,
        "smoke": args.smoke,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
