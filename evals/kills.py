"""kill -9 at every step of a turn, then resume: the crash-consistency check of saved sessions.

Contract: ``run_kills(factory, script, kills=N)`` plays the user messages ``script`` in one saved
session made by ``factory`` ("module:function", ``function(name) -> AgentSession``, imported in each
child process; ``PYTHONPATH`` reaches it). A clean child run counts the conversation's events (every
graph node's entry and exit, every checkpoint write, tool call and write, the session file) and
records its outcome. Then, for each of up to N events spread over all of them, a child plays the
conversation and kills itself with SIGKILL at that event, printing each reply as the customer reads
it; a second child reopens the session, finishes the turn the kill cut off (``recover``) and sends the
messages the history lacks. Counted over the kills:

- ``lost_turns``: replies the customer read that the resumed history lacks, and messages sent twice;
- ``duplicate_writes``: writes that ran and succeeded more than once, as each child reports the
  writes it ran itself (``AgentDeps.run``: a replay from the idempotency record does not count);
- ``diverged``: resumed conversations whose store or writes differ from the clean run's.

Children run ``python -m agentspec.evals.kills CHILD_JSON`` in a private ``$AGENTSPEC_HOME``.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from pathlib import Path
from typing import Any

__all__ = ["run_kills"]


def run_kills(factory: str, script: list[str], *, kills: int | None = None, labels: set[str] | None = None,
              workers: int = 1, home: str | os.PathLike[str] | None = None, timeout: float = 300,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Kill the conversation at up to ``kills`` events (None: every event; ``labels``: only events of
    these labels, e.g. ``{"write:exit"}``), resume each; the counts of the module docstring plus
    ``events`` (of the clean run) and ``examples`` (the first few harms)."""
    with tempfile.TemporaryDirectory(prefix="agentspec-kills-") as tmp:
        root = Path(home or tmp)
        clean = _child(root, "clean", factory, script, kill_at=None, timeout=timeout)["final"]
        events = clean["events"]
        eligible = [k for k in range(1, events + 1) if labels is None or clean["labels"][k - 1] in labels]
        points = [eligible[i - 1] for i in _spread(len(eligible), kills)]
        done = 0

        def one(k: int) -> dict[str, Any]:
            nonlocal done
            outcome = _kill_and_resume(root, f"k{k}", factory, script, k, clean, timeout)
            done += 1
            if progress:
                progress(done, len(points))
            return {**outcome, "event": k, "label": clean["labels"][k - 1]}

        with ThreadPoolExecutor(max(1, workers)) as pool:
            outcomes = list(pool.map(one, points))
    killed = [o for o in outcomes if o["killed"]]
    harms = [o for o in killed if o["lost_turns"] or o["duplicate_writes"] or o["diverged"]]
    return {"kills": len(killed), "events": events, "lost_turns": sum(o["lost_turns"] for o in killed),
            "duplicate_writes": sum(o["duplicate_writes"] for o in killed),
            "diverged": sum(1 for o in killed if o["diverged"]), "clean_writes": len(clean["writes"]),
            "examples": harms[:5]}


def _spread(events: int, kills: int | None) -> list[int]:
    """Event numbers 1..events, or ``kills`` of them spread evenly (first and last included)."""
    if kills is None or kills >= events:
        return list(range(1, events + 1))
    if kills <= 1:
        return [events] if kills == 1 else []
    return sorted({1 + round(i * (events - 1) / (kills - 1)) for i in range(kills)})


def _kill_and_resume(root: Path, name: str, factory: str, script: list[str], k: int, clean: dict[str, Any],
                     timeout: float) -> dict[str, Any]:
    first = _child(root, name, factory, script, kill_at=k, timeout=timeout)
    second = _child(root, name, factory, script, kill_at=None, timeout=timeout)
    resumed = second["final"]
    history_replies = resumed["replies"]
    lost = sum(1 for reply in first["replies"] if reply not in history_replies)
    lost += max(0, len(resumed["user_messages"]) - len(script))  # a message the resume sent twice
    ran = Counter(first["ran"] + second["ran"])
    duplicates = sum(n - 1 for n in ran.values())
    diverged = resumed["state"] != clean["state"] or resumed["writes"] != clean["writes"]
    return {"killed": first["killed"], "lost_turns": lost, "duplicate_writes": duplicates, "diverged": diverged,
            "recovered": resumed["recovered"]}


def _child(root: Path, name: str, factory: str, script: list[str], *, kill_at: int | None,
           timeout: float) -> dict[str, Any]:
    """Run one child; its replies (one JSON line each) and, when it was not killed, its final outcome."""
    args = {"factory": factory, "name": name, "script": script, "kill_at": kill_at}
    env = {**os.environ, "AGENTSPEC_HOME": str(root)}
    done = subprocess.run([sys.executable, "-m", "agentspec.evals.kills", json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    killed = done.returncode == -signal.SIGKILL
    if done.returncode != 0 and not killed:
        raise RuntimeError(f"kill child {name} failed (rc {done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}")
    final = next((line["final"] for line in lines if "final" in line), None)
    return {"killed": killed, "replies": [line["reply"] for line in lines if "reply" in line], "final": final,
            "ran": [line["ran"] for line in lines if "ran" in line]}


# -- the child process ---------------------------------------------------------------------------


class _Events:
    """Counts the instrumented events; SIGKILLs this process at event ``kill_at``."""

    def __init__(self, kill_at: int | None):
        self.kill_at = kill_at
        self.labels: list[str] = []

    def __call__(self, label: str) -> None:
        self.labels.append(label)
        if len(self.labels) == self.kill_at:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self(f"{label}:enter")
            out = original(*args, **kwargs)
            self(f"{label}:exit")
            return out

        setattr(owner, attr, wrapped)


def _instrument(events: _Events) -> None:
    """Wrap every step of a turn with events: graph nodes, checkpoint writes, tool calls, writes, session file."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agentspec.graph import build, nodes, session
    from agentspec.graph.deps import AgentDeps
    from agentspec.toolkit import ToolRegistry

    for node in ("begin", "plan", "guard", "approve"):
        events.wrap(build, node, f"node:{node}")
    for node in ("decide", "act", "confirm", "respond"):
        events.wrap(nodes, node, f"node:{node}")
    events.wrap(SqliteSaver, "put", "checkpoint")
    events.wrap(SqliteSaver, "put_writes", "checkpoint-writes")
    events.wrap(ToolRegistry, "call", "tool")
    run = AgentDeps.run

    def reporting_run(deps: Any, call: Any, key: str | None = None) -> tuple[str, bool]:
        """A write (a keyed call) is an event before and after it commits, and is reported when it ran."""
        label = "write" if key is not None else "call"
        events(f"{label}:enter")
        observation, ran = run(deps, call, key)
        events(f"{label}:exit")
        if key is not None and ran and not observation.startswith("Error:"):
            print(json.dumps({"ran": json.dumps(call, sort_keys=True)}), flush=True)
        return observation, ran

    AgentDeps.run = reporting_run  # type: ignore[method-assign]
    events.wrap(session.AgentSession, "_write_meta", "session-file")


def _outcome(agent: Any, events: _Events, recovered: bool) -> dict[str, Any]:
    """What the saved conversation holds: user messages, replies, successful writes, the store's state."""
    deps = agent.deps
    writes = [json.dumps(e["calls"][0], sort_keys=True) for e in agent.trace()
              if e.get("kind") == "tool" and e.get("outcome") == "ok"
              and e["calls"][0]["name"] in deps.spec.policy.confirmation.tools]
    stores = list(dict.fromkeys(deps.toolkits.values()))
    state = [store.state_hash() for store in stores if callable(getattr(store, "state_hash", None))]
    messages = agent.history()
    return {"user_messages": [m["content"] for m in messages if _said_by_user(m)],
            "replies": [r for r in map(_reply_of, messages) if r is not None], "writes": writes, "state": state,
            "events": len(events.labels), "labels": events.labels, "recovered": recovered}


def _said_by_user(message: dict[str, Any]) -> bool:
    return message.get("role") == "user" and "meta" not in message  # observations carry their call's meta


def _reply_of(message: dict[str, Any]) -> str | None:
    if message.get("role") != "assistant":
        return None
    try:
        data = json.loads(str(message.get("content") or ""))
    except ValueError:
        return None
    return data.get("reply") if isinstance(data, dict) else None


def _child_main(args: dict[str, Any]) -> None:
    module, _, function = args["factory"].partition(":")
    make = getattr(import_module(module), function)
    events = _Events(args["kill_at"])
    _instrument(events)
    with make(args["name"]) as agent:
        recovered = agent.recover()
        if recovered is not None and recovered.reply is not None:
            print(json.dumps({"reply": recovered.reply}), flush=True)
        sent = sum(1 for m in agent.history() if _said_by_user(m))
        for text in args["script"][sent:]:
            result = agent.send(text)
            print(json.dumps({"reply": result.reply}), flush=True)
        print(json.dumps({"final": _outcome(agent, events, recovered is not None)}), flush=True)


if __name__ == "__main__":
    _child_main(json.loads(sys.argv[1]))
