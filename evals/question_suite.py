"""``agentspec eval questions``: customers ask about one of their orders or a product; is the fact said?

``question_cases(db, wording, n, seed)`` draws ``n`` cases from held-out users (``user_split``'s eval
side), kinds taking turns: a template of the wording file's kind (``status``, ``tracking``, ``total``,
``items``, ``payment``, ``address``: YAML ``kind: [templates with {order}]``) filled with one of the
user's orders, said by id ("order #W1234567") or by a product only it holds ("the order with the
Desk Lamp"); or (``options``, ``price``: ``{product}``) with a catalogue product that has an available
version, by its name (lower-cased 30% of the time). Its ``facts``: what the reply must contain (the
status; every tracking number; the items' total as "123.45"; every product name; the card's last
four digits, "paypal" or the gift card's id; the street line of the shipping address; every option
value of the product's available versions; their lowest and highest price). Same inputs, same cases.

``run_questions(settings)`` plays each case through an arm of the spec, each on a fresh copy of the
store: the question, then (when no reply holds the facts yet) "my email is ...": the customer
identifies once, as asked. A case passes when an agent reply holds every fact (as a whole word or
number; case and commas ignored), no write ran and no reply names an order of another customer. Arms: ``graph`` (the spec
as it is) and ``model`` (``understanding.questions`` emptied: the model answers). Rows go to
``out/questions.jsonl`` as they finish (a rerun resumes); ``out/report.json``, ``report.md`` and
``report.png`` hold the pass rate per arm and kind with Wilson 95% intervals.
"""
from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from agentspec.errors import AgentSpecError

from .docqa import wilson
from .generate import user_split

__all__ = ["KINDS", "QuestionCase", "QuestionSettings", "question_cases", "run_questions"]

KINDS = ("status", "tracking", "total", "items", "payment", "address", "options", "price")
PRODUCT_KINDS = ("options", "price")  # about a catalogue product ({product}); the others about an order ({order})
ARMS = ("graph", "model")


@dataclass(frozen=True)
class QuestionCase:
    id: str
    kind: str
    user_id: str
    email: str
    order_id: str  # "" for a product question
    text: str
    facts: list[str]
    product_id: str = ""  # the product asked about (product kinds)


@dataclass
class QuestionSettings:
    db: str
    wording: str
    out: str
    spec: str = "retail"
    n: int = 60
    seed: int = 0
    arms: tuple[str, ...] = ARMS
    threads: int | None = None
    progress: bool = True


def load_wording(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The templates by kind; an error names a kind, a template without exactly one {order} (``{product}``
    for the product kinds), or bad YAML."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgentSpecError(f"cannot read question wording {path}: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise AgentSpecError(f"{path}: expected a mapping of kind -> list of templates ({', '.join(KINDS)})")
    for kind, templates in data.items():
        if kind not in KINDS:
            raise AgentSpecError(f"{path}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        slot = "{product}" if kind in PRODUCT_KINDS else "{order}"
        bad = [t for t in templates or [] if not isinstance(t, str) or t.count(slot) != 1]
        if bad or not templates:
            raise AgentSpecError(f"{path}: every {kind} template needs exactly one {slot}; first bad: {bad[:1]}")
    return {kind: list(templates) for kind, templates in data.items()}


def _facts(kind: str, order: dict[str, Any], user: dict[str, Any]) -> list[str] | None:
    """What a reply must say for ``kind`` about ``order``; None when the order cannot answer it."""
    if kind == "status":
        return [order["status"]]
    if kind == "tracking":
        numbers = [str(t) for f in order.get("fulfillments") or [] for t in f.get("tracking_id") or []]
        return numbers or None
    if kind == "total":
        return [f"{sum(round(i['price'] * 100) for i in order['items']) / 100:.2f}"]
    if kind == "items":
        return sorted({i["name"] for i in order["items"]})
    if kind == "address":
        return [order["address"]["address1"]]
    payments = [p for p in order.get("payment_history") or [] if p.get("transaction_type") == "payment"]
    if not payments:
        return None
    method = user["payment_methods"].get(payments[0]["payment_method_id"]) or {}
    source = method.get("source")
    return ([method.get("last_four")] if source == "credit_card" else ["paypal"] if source == "paypal"
            else [payments[0]["payment_method_id"]] if source == "gift_card" else None)


def _product_facts(kind: str, product: dict[str, Any]) -> list[str] | None:
    """What a reply must say for a product kind: every option value of the available versions, or their
    lowest and highest price ("123.45"); None when no version is available."""
    available = [v for v in product["variants"].values() if v.get("available")]
    if not available:
        return None
    if kind == "options":
        return sorted({str(value) for v in available for value in (v.get("options") or {}).values()})
    prices = sorted(v["price"] for v in available)
    return sorted({f"{prices[0]:.2f}", f"{prices[-1]:.2f}"})


def _product_case(db: dict[str, Any], wording: dict[str, list[str]], kind: str, user: dict[str, Any],
                  rng: random.Random, case_id: str) -> QuestionCase | None:
    product = db["products"][rng.choice(sorted(db["products"]))]
    facts = _product_facts(kind, product)
    if not facts:
        return None
    name = product["name"].lower() if rng.random() < 0.3 else product["name"]
    text = rng.choice(wording[kind]).replace("{product}", name)
    return QuestionCase(case_id, kind, user["user_id"], user["email"], "", text, facts, product["product_id"])


def _reference(order: dict[str, Any], others: list[dict[str, Any]], rng: random.Random) -> str:
    """The order by id, or by a product no other order of the user holds (when one exists), at random."""
    theirs = {i["name"] for o in others for i in o["items"]}
    own = sorted({i["name"] for i in order["items"]} - theirs)
    if own and rng.random() < 0.5:
        return f"the order with the {rng.choice(own)}"
    return f"order {order['order_id']}"


def question_cases(db: dict[str, Any], wording: dict[str, list[str]], n: int, seed: int = 0) -> list[QuestionCase]:
    """``n`` cases of held-out users, the wording's kinds in turn (module docstring)."""
    rng = random.Random(f"questions:{seed}")
    users = user_split(db, 0, 0.3)[1]
    kinds = [k for k in KINDS if k in wording]
    cases: list[QuestionCase] = []
    for i in range(n * 20):
        if len(cases) == n:
            break
        kind = kinds[len(cases) % len(kinds)]
        user = db["users"][rng.choice(users)]
        if kind in PRODUCT_KINDS:
            if (case := _product_case(db, wording, kind, user, rng, f"q{len(cases)}")) is not None:
                cases.append(case)
            continue
        orders = [db["orders"][o] for o in user["orders"] if o in db["orders"]]
        if not orders:
            continue
        order = rng.choice(orders)
        facts = _facts(kind, order, user)
        if not facts:
            continue
        others = [o for o in orders if o is not order]
        text = rng.choice(wording[kind]).replace("{order}", _reference(order, others, rng))
        cases.append(QuestionCase(f"q{len(cases)}", kind, user["user_id"], user["email"], order["order_id"], text,
                                  facts))
    return cases


def _says(replies: list[str], facts: list[str]) -> bool:
    """Every fact in the replies as a whole word or number (case and commas ignored): "s" is no size in
    "it's", "29.28" not in "129.28"."""
    said = " ".join(replies).lower().replace(",", "")
    return all(re.search(rf"(?<![0-9a-z']){re.escape(fact.lower().replace(',', ''))}(?![0-9a-z])", said)
               for fact in facts)


def _play(agent: Any, base: Any, case: QuestionCase, writes: set[str], foreign: set[str]) -> dict[str, Any]:
    """One conversation: the question, then the email when the facts are not said yet."""
    started = time.perf_counter()
    replies: list[str] = []
    called: list[str] = []
    error = None
    with base.copy() as store:
        session = agent.start(store, case.id).session
        try:
            for text in (case.text, f"my email is {case.email}"):
                result = session.send(text)
                replies.append(result.reply or "")
                called += [c["name"] for e in result.entries if e.get("kind") == "tool" for c in e.get("calls") or []]
                if _says(replies, case.facts):
                    break
        except AgentSpecError as exc:
            error = str(exc)
        finally:
            session.close()
    leaked = sorted(o for o in foreign if any(o in r for r in replies))
    wrote = [c for c in called if c in writes]
    said = _says(replies, case.facts)
    return {"said": said, "passed": said and not wrote and not leaked,
            "wrote": wrote, "leaked": leaked, "replies": replies, "calls": called, "error": error,
            "seconds": round(time.perf_counter() - started, 2)}


def _arm_agent(arm: str, spec: Any, model: Any) -> Any:
    from .spec_agent import make_eval_agent

    if arm == "model" and spec.understanding is not None:
        understanding = spec.understanding.model_copy(update={"questions": {}})
        spec = spec.model_copy(update={"understanding": understanding})
    return make_eval_agent(spec, model=model)


def _read_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Finished rows by (arm, case id); a line cut by a kill is skipped."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            rows[(row["arm"], row["id"])] = row
    return rows


def summarize(rows: list[dict[str, Any]], arms: tuple[str, ...]) -> dict[str, Any]:
    """Pass rate per arm (overall and per kind) with Wilson intervals; writes and leaks counted."""
    out: dict[str, Any] = {}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        passed = sum(r["passed"] for r in mine)
        by_kind = {}
        for kind in KINDS:
            of_kind = [r for r in mine if r["kind"] == kind]
            if of_kind:
                k = sum(r["passed"] for r in of_kind)
                by_kind[kind] = {"n": len(of_kind), "passed": k, "rate": round(k / len(of_kind), 3)}
        out[arm] = {"n": len(mine), "passed": passed, "rate": round(passed / len(mine), 3) if mine else None,
                    "ci95": wilson(passed, len(mine)) if mine else None, "by_kind": by_kind,
                    "writes": sum(bool(r["wrote"]) for r in mine), "leaks": sum(bool(r["leaked"]) for r in mine),
                    "errors": sum(r["error"] is not None for r in mine),
                    "seconds_per_case": round(sum(r["seconds"] for r in mine) / len(mine), 2) if mine else None}
    return out


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Question suite: {report['wording']} ({report['n']} cases, spec {report['spec']})", "",
             "| arm | pass rate | 95% CI | " + " | ".join(KINDS) + " | writes | leaks | s/case |",
             "|---|---|---|" + "---|" * len(KINDS) + "---|---|---|"]
    for arm, row in report["arms"].items():
        kinds = " | ".join(f"{row['by_kind'][k]['passed']}/{row['by_kind'][k]['n']}" if k in row["by_kind"] else "-"
                           for k in KINDS)
        ci = row["ci95"] or [0, 0]
        lines.append(f"| {arm} | {row['rate']} | {ci[0]:.3f}-{ci[1]:.3f} | {kinds} | {row['writes']} | "
                     f"{row['leaks']} | {row['seconds_per_case']} |")
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5))
    width = 0.8 / max(1, len(report["arms"]))
    for j, (arm, row) in enumerate(report["arms"].items()):
        rates = [row["by_kind"].get(k, {}).get("rate", 0) for k in KINDS]
        ax.bar([i + j * width for i in range(len(KINDS))], rates, width, label=f"{arm} ({row['rate']})")
    ax.set_xticks([i + width * (len(report["arms"]) - 1) / 2 for i in range(len(KINDS))], KINDS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fact said, nothing written or leaked")
    ax.set_title(f"Questions about an order or a product: {Path(report['wording']).name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_questions(s: QuestionSettings) -> dict[str, Any]:
    """Play every case through every arm (resumable in ``s.out``); the report (module docstring)."""
    from agentspec.spec import load_model, load_spec
    from agentspec.tools.retail import RetailStore

    unknown = [a for a in s.arms if a not in ARMS]
    if unknown:
        raise AgentSpecError(f"unknown arm(s) {unknown}: choose from {', '.join(ARMS)}")
    db = json.loads(Path(s.db).read_text(encoding="utf-8"))
    cases = question_cases(db, load_wording(s.wording), s.n, s.seed)
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "questions.jsonl"
    done = _read_rows(path)
    spec = load_spec(s.spec)
    if s.threads is not None:
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"threads": s.threads})})
    model = load_model(spec)
    writes = set(spec.policy.confirmation.tools)
    base = RetailStore.from_json(db)
    todo = [(arm, case) for arm in s.arms for case in cases if (arm, case.id) not in done]
    agents = {arm: _arm_agent(arm, spec, model) for arm in {arm for arm, _ in todo}}
    owners = {order_id: order["user_id"] for order_id, order in db["orders"].items()}
    try:
        with path.open("a", encoding="utf-8") as sink:
            for number, (arm, case) in enumerate(todo, 1):
                foreign = {order_id for order_id, owner in owners.items() if owner != case.user_id}
                row = {"arm": arm, **asdict(case), **_play(agents[arm], base, case, writes, foreign)}
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                done[(arm, case.id)] = row
                if s.progress:
                    print(f"[{number}/{len(todo)}] {arm} {case.kind}: {'pass' if row['passed'] else 'fail'}",
                          flush=True)
    finally:
        base.close()
    rows = [done[(arm, case.id)] for arm in s.arms for case in cases if (arm, case.id) in done]
    report = {"wording": s.wording, "spec": s.spec, "n": len(cases), "seed": s.seed, "arms": summarize(rows, s.arms)}
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    _plot(report, out / "report.png")
    return report
