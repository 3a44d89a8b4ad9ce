"""Tier 2: ``agentspec serve`` killed with SIGKILL in the middle of a write's turn, restarted on the same home.

Three customers of the db with a pending order, each in a conversation of the real server (bundled
model, default ``retail`` spec, one worker): they give their email, ask to cancel the order, the graph
states the cancel (a ``confirm`` event) and they answer "yes", streamed. The server is killed at a
different point of each "yes" turn and restarted on the same ``$AGENTSPEC_HOME``. From outside, with
``kill -9`` as the client reads: right after the request is written, at the turn's first event, at
the write's ``tool_result`` event. A turn without a model step takes milliseconds, so those kills
mostly land around the turn rather than inside it; the exact points inside it come from a server
armed to SIGKILL itself (``_ARMED``): just before the write runs, and just after it commits (before
its step is checkpointed, where a resumed turn would run it again without its idempotency record).
Then:

- every conversation continues: a new message gets a reply;
- the cancel ran at most once: at most one ``cancel_pending_order`` result ``ok`` in the conversation's
  trace, and no attempt refused because the order was no longer pending (a write run again);
- the session's retail store (``sessions/<id>/retail.sqlite``, what the tools wrote) agrees with the
  trace: the order is cancelled exactly when the trace holds the cancel (a write never runs without
  its turn being recorded), and a cancel the client saw succeed is in both.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.real

DB = Path(__file__).resolve().parents[3] / "shared" / "data" / "tau2-retail" / "db.json"
CANCEL = "cancel_pending_order"
KILL_POINTS = ("sent", "first_event", "tool_result", "before_write", "after_write")
ARMED_POINTS = ("before_write", "after_write")
# ``agentspec`` with the write step armed: the server SIGKILLs itself just before or just after a keyed
# write of $KILL_TOOL runs ($KILL_AT), as ``agentspec.evals.kills`` does for REPL sessions.
_ARMED = """
import os, signal
from agentspec.graph.deps import AgentDeps
from agentspec.cli import cli

run = AgentDeps.run

def armed_run(deps, call, key=None):
    armed = key is not None and call["name"] == os.environ["KILL_TOOL"]
    if armed and os.environ["KILL_AT"] == "before_write":
        os.kill(os.getpid(), signal.SIGKILL)
    out = run(deps, call, key)
    if armed:
        os.kill(os.getpid(), signal.SIGKILL)
    return out

AgentDeps.run = armed_run
cli(prog_name="agentspec")
"""


class Server:
    """One ``agentspec serve`` subprocess on a free loopback port, restartable on the same home."""

    def __init__(self, home: Path):
        self.home = home
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, armed: str | None = None, timeout_s: float = 180) -> None:
        """Start it; ``armed`` (an ``ARMED_POINTS`` name): it kills itself there at the next cancel."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        log = self.home / f"serve-{self.port}.log"
        program = ["-c", _ARMED] if armed else ["-m", "agentspec.cli"]
        self.proc = subprocess.Popen(
            [sys.executable, *program, "serve", "--port", str(self.port), "--db", str(DB),
             "--workers", "1", "--threads", "1", "--rate", "0"],
            env={**os.environ, "AGENTSPEC_HOME": str(self.home), "KILL_TOOL": CANCEL, "KILL_AT": armed or ""},
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2)
                if ready.status_code == 200:
                    return
                assert not ready.json().get("errors"), ready.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"the server was not ready within {timeout_s} s:\n{log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "the server died before the kill"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def died_by_itself(self, timeout_s: float = 120) -> None:
        assert self.proc is not None
        assert self.proc.wait(timeout_s) == -signal.SIGKILL, "the armed server did not kill itself"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # graceful: turns in flight finish
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    s = Server(home)
    yield s
    s.stop()


def customers(n: int) -> list[dict[str, str]]:
    """The first ``n`` users of the db with a pending order: their email and that order."""
    data = json.loads(DB.read_text())
    found = []
    for user in data["users"].values():
        pending = [o for o in user["orders"] if data["orders"][o]["status"] == "pending"]
        if pending:
            found.append({"email": user["email"], "order": pending[0]})
        if len(found) == n:
            return found
    raise AssertionError("not enough users with a pending order in the db")


def call(server: Server, key: str, method: str, path: str, body: dict | None = None) -> dict:
    r = httpx.request(method, server.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=300)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    return r.json()


def yes_killed_at(server: Server, key: str, conversation: str, point: str) -> list[tuple[str, dict]]:
    """Send "yes" streamed; the server is SIGKILLed at ``point``; the events the client saw before it."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", f"/v1/conversations/{conversation}/messages", json.dumps({"content": "yes", "stream": True}),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    seen: list[tuple[str, dict]] = []
    if point != "sent":  # "sent": killed as soon as the request is written, before any answer
        response = conn.getresponse()
        assert response.status == 200, response.read()
        event = None
        # Ends before the point only when the turn finished first, or an armed server died.
        while line := response.readline():
            if line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:") and event is not None:
                seen.append((event, json.loads(line[5:])))
                if point == "first_event" or event == point:
                    break
    if point in ARMED_POINTS:
        server.died_by_itself()
    else:
        server.kill9()
    conn.close()
    return seen


def test_a_kill_mid_write_loses_no_conversation_and_runs_the_write_at_most_once(server):
    from agentspec.tools.retail import RetailStore

    env = {**os.environ, "AGENTSPEC_HOME": str(server.home)}
    key = subprocess.run([sys.executable, "-m", "agentspec.cli", "keys", "add", "kill", "--role", "integration"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()[0]
    server.start()
    people = customers(len(KILL_POINTS))

    # 1. Each customer identifies and asks for the cancel: the graph states it and waits for the yes.
    conversations = []
    for person in people:
        conversation = call(server, key, "POST", "/v1/conversations")["id"]
        for text in (f"Hi, my email is {person['email']}.",
                     f"Please cancel order {person['order']}, I ordered it by mistake."):
            turn = call(server, key, "POST", f"/v1/conversations/{conversation}/messages",
                        {"content": text, "stream": False})
        assert "confirm" in [e["event"] for e in turn["events"]], turn["reply"]
        conversations.append(conversation)

    # 2. "yes", killed at a different point of each turn; the server restarts on the same home.
    seen = {}
    for i, (conversation, point) in enumerate(zip(conversations, KILL_POINTS)):
        seen[conversation] = yes_killed_at(server, key, conversation, point)
        following = KILL_POINTS[i + 1] if i + 1 < len(KILL_POINTS) else None
        server.start(armed=following if following in ARMED_POINTS else None)

    # 3. Every conversation continues, and what ran is recorded once.
    cancelled_in_trace, replayed = {}, {}
    for conversation, person, point in zip(conversations, people, KILL_POINTS):
        after = call(server, key, "POST", f"/v1/conversations/{conversation}/messages",
                     {"content": "Thank you, that's all for today.", "stream": False})
        assert after["reply"], after
        messages = call(server, key, "GET", f"/v1/conversations/{conversation}")["messages"]
        assert messages[-1] == {"role": "assistant", "content": after["reply"]}
        assert [m["content"] for m in messages if m["role"] == "user"].count("yes") <= 1, messages
        trace = call(server, key, "GET", f"/v1/conversations/{conversation}/trace")["trace"]
        cancels = [e for e in trace if e.get("kind") == "tool" and e["calls"][0]["name"] == CANCEL]
        ok = [e for e in cancels if e.get("outcome") == "ok"]
        again = [e for e in cancels if "non-pending" in str(e.get("output")).lower()]
        assert len(ok) <= 1 and not again, cancels
        assert all(e["calls"][0]["arguments"]["order_id"] == person["order"] for e in ok), ok
        cancelled_in_trace[conversation] = bool(ok)
        replayed[conversation] = any(e.get("replayed") for e in ok)  # a restart reported a write that had run
        if ok:  # a write never runs without its turn: the yes that asked for it is in the history
            assert "yes" in [m["content"] for m in messages if m["role"] == "user"], messages
        if any(event == "tool_result" and data.get("outcome") == "ok" for event, data in seen[conversation]):
            assert ok, f"the client saw the cancel succeed, the trace lacks it: {trace}"
        if point in ARMED_POINTS:  # the yes was recorded before the write step: the restart finishes the turn
            assert len(ok) == 1, (point, cancels)
        if point == "after_write":  # the write had committed: reported from its idempotency record, not run
            assert ok[0].get("replayed"), ok
    server.stop()

    # 4. The store the tools wrote agrees with the trace, conversation by conversation.
    for conversation, person, point in zip(conversations, people, KILL_POINTS):
        store = RetailStore.open(server.home / "sessions" / conversation / "retail.sqlite")
        try:
            status = json.loads(store.get_order_details(person["order"]))["status"]
        finally:
            store.close()
        assert (status == "cancelled") == cancelled_in_trace[conversation], (conversation, status, seen[conversation])
        print(f"killed at {point}: the client saw {[e for e, _ in seen[conversation]]}; order {status}"
              f"{', the write replayed' if replayed[conversation] else ''}")  # pytest -s shows it
