"""The fuzz loop: a run's shared context, running one target, crash signatures, the whole run.

Contract:
- ``run_target(target, ctx, cases, seed)`` feeds ``cases`` inputs of ``target`` to its check, in short
  hypothesis runs each with its own seed; a crash is recorded in the returned ``FuzzStats``, never raised.
- A crash's signature is its exception type and its innermost project frame (frames of the fuzzer
  itself left out); the first occurrence of each signature is kept as an example.
- ``fuzz_context()`` makes a ``FuzzContext`` in a new temporary folder with ``AGENTSPEC_HOME`` inside it;
  ``run_fuzz`` (see the package doc) runs every target in one context.

hypothesis is imported inside the functions that use it.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

MAX_EXAMPLES = 12  # distinct crash signatures kept in the report
BATCH = 40  # inputs per hypothesis run (see run_target)
_HERE = os.path.dirname(os.path.abspath(__file__))  # the fuzzer's own frames are not a crash's place


class FuzzContext:
    """What targets share in one run: a temporary folder, the retail store, pools of real ids."""

    def __init__(self, root: Path):
        self.root = root
        self.writes = 0
        self._registry: tuple[Any, Any] | None = None  # (store, ToolRegistry of it)

    @cached_property
    def db_json(self) -> Path:
        """The retail db.json (``$AGENTSPEC_RETAIL_DB``, else ``../shared/data/tau2-retail/db.json``)."""
        from agentspec.tools.retail import resolve_retail_db

        return resolve_retail_db(None)

    @cached_property
    def base_store(self) -> Any:
        from agentspec.tools.retail import RetailStore

        return RetailStore.from_json(self.db_json)

    @cached_property
    def store(self) -> Any:
        return self.base_store.copy()

    def fresh_store(self) -> Any:
        """The working store, replaced by a fresh copy after many writes (so pending orders remain)."""
        if self.writes >= 150:
            self.store.close()
            self.__dict__["store"] = self.base_store.copy()
            self.writes = 0
        return self.store

    def registry(self) -> Any:
        """A ``ToolRegistry`` of the working store (the graph's path to the tools)."""
        from agentspec.toolkit import ToolRegistry

        if self._registry is None or self._registry[0] is not self.store:
            self._registry = (self.store, ToolRegistry([self.store]))
        return self._registry[1]

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.db_json.read_text(encoding="utf-8"))

    @cached_property
    def agent_spec(self) -> Any:
        """The retail spec without the learned reader, memory or retrieval (no encoder to load), for sessions
        and the REPL."""
        from agentspec.spec import load_spec

        path = self.root / "fuzz-agent.yaml"
        path.write_text("extends: retail-base\nname: fuzz\nunderstanding: null\nmemory: null\nretrieval: null\n"
                        "policy: {act_on_requests: false, ask_for_request: false}\n", encoding="utf-8")
        return load_spec(path)

    @cached_property
    def checkpoint_bytes(self) -> bytes:
        from agentspec.fuzz._files import _checkpoint_template

        return _checkpoint_template(self.root / "template.sqlite")

    @cached_property
    def repls(self) -> tuple[Any, Any]:
        from agentspec.fuzz._calls import _make_repls

        return _make_repls(self)

    def close(self) -> None:
        if "repls" in self.__dict__:
            self.__dict__.pop("repls")[1].session.close()
        for name in ("store", "base_store"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()


@dataclass
class FuzzStats:
    """Cases and crashes of one target; ``examples`` maps a crash signature to its first occurrence."""

    cases: int = 0
    errors: int = 0  # clear errors (AgentSpecError): expected, counted to show how deep inputs get
    crashes: int = 0
    seconds: float = 0.0
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, target: str, value: Any, exc: BaseException) -> None:
        self.crashes += 1
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if _short(f.filename).startswith(("agentspec/", "evals/", "tools/"))
                and not _in_fuzzer(f.filename)]
        last = (ours or frames or [None])[-1]
        where = f"{_short(last.filename)}:{last.lineno} in {last.name}" if last else "?"
        signature = f"{type(exc).__name__} at {where}"
        if signature not in self.examples:
            self.examples[signature] = {
                "target": target, "signature": signature, "input": _clip(repr(value), 600),
                "error": _clip(f"{type(exc).__name__}: {exc}", 400),
                "traceback": [f"{_short(f.filename)}:{f.lineno} in {f.name}: {f.line}" for f in frames[-5:]],
                "count": 0}
        self.examples[signature]["count"] += 1


def _in_fuzzer(filename: str) -> bool:
    return filename.endswith("fuzz.py") or os.path.dirname(os.path.abspath(filename)) == _HERE


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("agentspec", "evals", "tools", "site-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor):])
    return filename


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Target:
    """One kind of input: ``strategy(ctx)`` draws inputs, ``check(ctx, value)`` feeds one to the code."""

    name: str
    strategy: Callable[[FuzzContext], Any]
    check: Callable[[FuzzContext, Any], None]


def run_target(target: Target, ctx: FuzzContext, cases: int, seed: int) -> FuzzStats:
    """Run ``cases`` inputs of ``target``; each crash is recorded in the stats, never raised."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fix_seed

    stats = FuzzStats()
    started = time.perf_counter()
    strategy = target.strategy(ctx)

    def one(value: Any) -> None:
        if stats.cases >= cases:
            return
        stats.cases += 1
        try:
            target.check(ctx, value)
        except AgentSpecError:
            stats.errors += 1
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - recording every crash is the point
            stats.record(target.name, value, exc)

    # Short runs, each with its own seed: within one run hypothesis mostly mutates the tail of earlier
    # inputs, so many short runs spread the cases over far more different inputs than one long run.
    batch = 0
    while stats.cases < cases:
        before = stats.cases
        run = settings(max_examples=min(BATCH, cases - stats.cases), database=None, deadline=None,
                       phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                       print_blob=False)(given(strategy)(one))
        fix_seed(seed * 1_000_003 + batch)(run)()
        batch += 1
        if stats.cases == before:
            break  # the strategy has no input left to give
    stats.seconds = time.perf_counter() - started
    return stats



def _shares(cases: int, n: int) -> list[int]:
    return [cases // n + (i < cases % n) for i in range(n)]


@contextlib.contextmanager
def fuzz_context() -> Iterator[FuzzContext]:
    """A ``FuzzContext`` in a new temporary folder, with ``AGENTSPEC_HOME`` inside it; all undone on exit."""
    old_home = os.environ.get("AGENTSPEC_HOME")
    with tempfile.TemporaryDirectory(prefix="agentspec-fuzz-") as tmp:
        os.environ["AGENTSPEC_HOME"] = str(Path(tmp) / "home")
        ctx = FuzzContext(Path(tmp))
        try:
            yield ctx
        finally:
            ctx.close()
            if old_home is None:
                os.environ.pop("AGENTSPEC_HOME", None)
            else:
                os.environ["AGENTSPEC_HOME"] = old_home


def run_fuzz(cases: int, seed: int, progress: Callable[[str, dict[str, Any]], None] | None = None,
             targets: list[Target] | None = None) -> dict[str, Any]:
    """Run ``cases`` fuzz cases over ``targets`` (default ``TARGETS``, equal shares); see the package doc.

    ``progress(target name, its stats as in by_target)`` is called after each target.
    """
    from agentspec.fuzz import TARGETS

    targets = TARGETS if targets is None else targets
    started = time.perf_counter()
    by_target: dict[str, dict[str, Any]] = {}
    examples: dict[str, dict[str, Any]] = {}
    with fuzz_context() as ctx:
        for target, share in zip(targets, _shares(cases, len(targets))):
            stats = run_target(target, ctx, share, seed)
            by_target[target.name] = {"cases": stats.cases, "crashes": stats.crashes,
                                      "clear_errors": stats.errors, "seconds": round(stats.seconds, 2)}
            for signature, example in stats.examples.items():
                examples.setdefault(signature, example)
            if progress is not None:
                progress(target.name, by_target[target.name])
    return {"fuzz_cases": sum(t["cases"] for t in by_target.values()),
            "crashes": sum(t["crashes"] for t in by_target.values()),
            "unique_crashes": len(examples), "seconds": round(time.perf_counter() - started, 2),
            "by_target": by_target, "examples": list(examples.values())[:MAX_EXAMPLES]}
