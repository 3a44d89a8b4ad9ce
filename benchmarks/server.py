"""`agentspec serve` under load, side by side with the same turns run in-process, and its backpressure.

Usage: python benchmarks/server.py [--conversations C] [--turns N] [--workers W] [--threads T]
                                   [--db DB] [--home DIR] [--out DIR] [--smoke]

Everything runs on loopback, in a private ``$AGENTSPEC_HOME`` (a temporary folder, or ``--home``),
with the bundled model and the default ``retail`` spec:

1. A real server subprocess (``agentspec serve --port P --db DB --workers W --threads T --queue Q
   --rate 0``; Q = max(16, C), so the load below is never refused) with a key from ``agentspec keys
   add``; the benchmark waits for ``/readyz``. One throwaway turn warms it (the reader loads lazily).
2. Baseline, one turn at a time on the idle server: ``--baseline`` conversations over HTTP, and the
   same conversations in this process through ``agentspec.graph.AgentSession`` on a model with the
   same threads (no HTTP, no pool, one session kept open). Alternated conversation by conversation so
   drift in machine load touches both.
3. Load: C conversations at once, N turns each, through ``POST /v1/conversations/{id}/messages``;
   every other conversation streams (SSE, ``"stream": true``), the rest ask for JSON. Each is a short
   customer script on a τ²-retail user of the db: greet, give the email, ask about an order, ask the
   status of another, thank. A 429 (never expected here) is retried after its Retry-After.
   Afterwards ``GET /v1/conversations/{id}`` must hold every message whose turn answered and its reply.
4. Backpressure: a second server with ``--queue 1 --workers 1``; ``--burst`` messages (to as many
   conversations) fired at once. Each must answer within ``--bound`` seconds (200 or 429), and each
   429 must carry Retry-After.

Last line: one JSON object with ``conversations``, ``turns``, ``errors`` (turns that failed: status,
``error`` event, timeout), ``lost_messages`` (a message whose turn answered but is missing from the
conversation afterwards, or its reply missing), ``p50_ms``/``p95_ms`` (client-side latency of a turn
under load: queueing included), ``turns_per_s``, ``service_p50_ms`` (the turn's own time, as the
server reports it), ``inprocess_p50_ms``, ``http_p50_ms`` (idle server, same turns),
``overhead_ratio`` (http_p50_ms / inprocess_p50_ms: what HTTP, the pool and the per-turn session
opening add to a turn), ``overhead_ms_p50`` (median of the paired per-turn differences),
``http_service_p50_ms`` (of those HTTP turns, the time the server reports inside the turn),
``baseline_same_replies`` (turns whose reply over HTTP equals the in-process one; differing ones in
``baseline_reply_diffs``), ``throughput_ratio`` (turns/s of the server's W workers under load / turns/s
of one in-process session, one turn at a time), ``rejected_429``, ``hung`` (0 expected),
``retry_after_ok``. ``--out DIR`` also writes ``DIR/server.json`` and ``DIR/latency.png``.

Server processes are stopped on exit, on Ctrl-C and on SIGTERM. ``--smoke``: C=4, N=2, one baseline
conversation, a burst of 6 (CI).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE.parent.parent / "shared" / "data" / "tau2-retail" / "db.json"
console = Console(stderr=True, highlight=False)

# -- customer scripts -----------------------------------------------------------------------------

GREETINGS = ["Hi there!", "Hello, I need some help with my orders.", "Good morning.", "Hey, can you help me?"]
IDENTITIES = ["My email is {email}.", "Sure, it's {email}", "You can find me under {email}."]
DETAILS = ["What is in order {order}?", "Can you tell me about my order {order}?",
           "I'd like to know the details of order {order}."]
STATUSES = ["And what is the status of order {order}?", "Has order {order} shipped yet?",
            "What about order {order}, where is it?"]
THANKS = ["Thanks, that's all.", "Thank you, bye!", "Great, thanks for your help."]


def customer_scripts(db: Path, count: int, turns: int, seed: int) -> list[list[str]]:
    """``count`` scripts of ``turns`` messages, each for a different db user with two orders or more."""
    data = json.loads(db.read_text())
    users = [u for u in data["users"].values() if len(u["orders"]) >= 2]
    rng = random.Random(seed)
    scripts = []
    for user in rng.sample(users, count):
        first, second = user["orders"][:2]
        questions = [rng.choice(DETAILS).format(order=first), rng.choice(STATUSES).format(order=second)]
        extra = [rng.choice(STATUSES).format(order=o) for o in user["orders"]]
        questions += [extra[k % len(extra)] for k in range(max(0, turns - 5))]
        opening = [rng.choice(GREETINGS), rng.choice(IDENTITIES).format(email=user["email"])]
        full = opening + questions[:max(0, turns - 3)] + [rng.choice(THANKS)]
        scripts.append(full[:turns] if turns < 3 else full)
    return scripts


# -- the server subprocess ------------------------------------------------------------------------

_LIVE: list[subprocess.Popen] = []  # servers to stop on exit, whatever ends this process


def _stop(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # uvicorn: stop accepting, let the lifespan finish turns
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _LIVE:
        _LIVE.remove(proc)


def _stop_all() -> None:
    for proc in list(_LIVE):
        _stop(proc, grace_s=5.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run as Ctrl-C does: the servers are stopped first


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentspec.cli", *args]


def issue_key(home: Path, name: str) -> str:
    env = {**os.environ, "AGENTSPEC_HOME": str(home)}
    done = subprocess.run(_cli("keys", "add", name, "--role", "integration"), env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[0]


def start_server(home: Path, db: Path, *, workers: int, threads: int, queue: int, timeout_s: float = 300) -> str:
    """Start ``agentspec serve`` on a free loopback port; its URL once /readyz answers 200."""
    port = _free_port()
    log = open(home / f"serve-{port}.log", "w")
    env = {**os.environ, "AGENTSPEC_HOME": str(home)}
    args = ["serve", "--port", str(port), "--db", str(db), "--workers", str(workers), "--threads", str(threads),
            "--queue", str(queue), "--rate", "0"]
    # Its own session: a Ctrl-C at the terminal reaches this process only, which stops the server itself.
    proc = subprocess.Popen(_cli(*args), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _LIVE.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}):\n{Path(log.name).read_text()[-3000:]}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=2)
        except httpx.HTTPError:
            ready = None
        if ready is not None and ready.status_code == 200:
            return url
        if ready is not None and ready.json().get("errors"):  # a worker could not load its model
            raise SystemExit(f"the server's workers failed to load: {ready.json()['errors']}")
        time.sleep(0.25)
    raise SystemExit(f"the server was not ready within {timeout_s:.0f} s:\n{Path(log.name).read_text()[-3000:]}")


def server_proc(url: str) -> subprocess.Popen:
    port = url.rsplit(":", 1)[1]
    return next(p for p in _LIVE if "--port" in p.args and p.args[p.args.index("--port") + 1] == port)


# -- the client -----------------------------------------------------------------------------------


async def new_conversation(client: httpx.AsyncClient) -> str:
    r = await client.post("/v1/conversations")
    r.raise_for_status()
    return r.json()["id"]


async def send_turn(client: httpx.AsyncClient, conversation: str, text: str, stream: bool,
                    timeout_s: float, retries: int = 30) -> dict[str, Any]:
    """One turn: ``{ok, ms, reply, holder, service_ms, ttfe_ms, error, retried}`` (ms from the first try)."""
    started = time.perf_counter()
    out: dict[str, Any] = {"ok": False, "reply": None, "holder": None, "service_ms": None, "ttfe_ms": None,
                           "error": None, "retried": 0, "text": text}
    body = {"content": text, "stream": stream}
    path = f"/v1/conversations/{conversation}/messages"
    try:
        for _ in range(retries):
            async with client.stream("POST", path, json=body, timeout=timeout_s) as r:
                if r.status_code == 429:  # not expected under load (queue >= C): wait as told, then again
                    out["retried"] += 1
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                if r.status_code != 200:
                    out["error"] = f"HTTP {r.status_code}: {(await r.aread())[:300]!r}"
                    break
                if not stream:
                    result = json.loads(await r.aread())
                    out.update(ok=True, reply=result.get("reply"), holder=result.get("holder"),
                               service_ms=1000 * (result.get("seconds") or 0))
                    break
                async for event, data in _sse(r):
                    if out["ttfe_ms"] is None:
                        out["ttfe_ms"] = 1000 * (time.perf_counter() - started)
                    if event == "reply":
                        out["reply"] = data.get("text")
                    elif event == "done":
                        out.update(ok=True, holder=data.get("holder"), service_ms=1000 * (data.get("seconds") or 0))
                    elif event == "error":
                        out["error"] = f"error event: {data}"
                if not out["ok"] and out["error"] is None:
                    out["error"] = "the stream ended without done"
                break
        else:
            out["error"] = f"still 429 after {retries} tries"
    except httpx.TimeoutException:
        out["error"] = f"no answer within {timeout_s:.0f} s"
    except httpx.HTTPError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["ms"] = 1000 * (time.perf_counter() - started)
    return out


async def _sse(response: httpx.Response) -> Any:
    """The (event, data) pairs of a server-sent event stream."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and event is not None:
            yield event, json.loads("\n".join(data) or "{}")
            event, data = None, []


def lost_in(history: list[dict[str, Any]], turns: list[dict[str, Any]]) -> int:
    """Messages of answered turns (and their replies) missing from ``history``, matched in order."""
    expected: list[tuple[str, str | None]] = []
    for t in turns:
        if not t["ok"]:
            continue
        expected.append(("user", t["text"]))
        if t["holder"] != "human":  # a person holds it: the message waits for them, no reply is due
            expected.append(("assistant", t["reply"]))
    lost, at = 0, 0
    for role, content in expected:
        if not content:
            lost += 1
            continue
        found = next((k for k in range(at, len(history))
                      if history[k]["role"] == role and history[k]["content"] == content), None)
        if found is None:
            lost += 1
        else:
            at = found + 1
    return lost


async def run_load(url: str, key: str, scripts: list[list[str]], timeout_s: float,
                   progress: Progress) -> tuple[list[dict[str, Any]], float, int]:
    """All conversations at once; their turns, the wall time of the load, and lost messages."""
    limits = httpx.Limits(max_connections=len(scripts) + 8, max_keepalive_connections=len(scripts) + 8)
    headers = {"Authorization": f"Bearer {key}"}
    task = progress.add_task("load", total=sum(map(len, scripts)))
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        ids = [await new_conversation(client) for _ in scripts]

        async def converse(i: int) -> list[dict[str, Any]]:
            turns = []
            for text in scripts[i]:
                turns.append({**await send_turn(client, ids[i], text, stream=i % 2 == 1, timeout_s=timeout_s),
                              "stream": i % 2 == 1})
                progress.advance(task)
            return turns

        started = time.perf_counter()
        per_conversation = await asyncio.gather(*(converse(i) for i in range(len(scripts))))
        wall = time.perf_counter() - started
        lost = 0
        for conversation, turns in zip(ids, per_conversation):
            r = await client.get(f"/v1/conversations/{conversation}")
            r.raise_for_status()
            lost += lost_in(r.json()["messages"], turns)
    return [t for turns in per_conversation for t in turns], wall, lost


async def run_http_serial(url: str, key: str, script: list[str], timeout_s: float) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        conversation = await new_conversation(client)
        return [await send_turn(client, conversation, text, stream=False, timeout_s=timeout_s) for text in script]


async def run_burst(url: str, key: str, n: int, bound_s: float) -> dict[str, Any]:
    """``n`` messages to ``n`` conversations at once: every one answers within ``bound_s``; 429s say when."""
    limits = httpx.Limits(max_connections=n + 4)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=30) as client:
        ids = [await new_conversation(client) for _ in range(n)]

        async def one(i: int) -> tuple[str, str | None]:
            body = {"content": "Hi, I have a question about an order.", "stream": i % 2 == 1}
            try:
                async with client.stream("POST", f"/v1/conversations/{ids[i]}/messages", json=body,
                                         timeout=bound_s) as r:
                    await r.aread()  # the whole answer, the event stream included
                    return str(r.status_code), r.headers.get("retry-after")
            except httpx.TimeoutException:
                return "hung", None

        started = time.perf_counter()
        answers = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout=bound_s + 30)
    statuses = [s for s, _ in answers]
    rejected = [ra for s, ra in answers if s == "429"]
    return {"burst": n, "rejected_429": len(rejected), "accepted": statuses.count("200"),
            "hung": statuses.count("hung"),
            "other_status": sorted(s for s in statuses if s not in ("200", "429", "hung")),
            "retry_after_ok": all(ra is not None and ra.isdigit() and int(ra) >= 1 for ra in rejected),
            "retry_after_s": sorted({int(ra) for ra in rejected if ra and ra.isdigit()}),
            "burst_s": round(time.perf_counter() - started, 2)}


# -- the in-process baseline ----------------------------------------------------------------------


class InProcess:
    """The retail agent in this process: one model (``threads``) shared by the sessions, as a worker's."""

    def __init__(self, db: Path, threads: int):
        from agentspec.decoding.engine import StepDecoder
        from agentspec.spec import load_model, load_spec

        spec = load_spec("retail")
        self.spec = spec.model_copy(update={"model": spec.model.model_copy(update={"threads": threads})})
        self.model = load_model(self.spec)
        decoding = self.spec.decoding
        self.decoder = StepDecoder(self.model, mode=decoding.mode, max_attempts=decoding.max_attempts)
        self.db = db

    def run(self, name: str, script: list[str]) -> list[dict[str, Any]]:
        from agentspec.graph import AgentSession

        session = AgentSession(self.spec, name=name, model=self.model, decoder=self.decoder, data=str(self.db))
        turns = []
        try:
            for text in script:
                started = time.perf_counter()
                result = session.send(text)
                turns.append({"ms": 1000 * (time.perf_counter() - started), "reply": result.reply})
        finally:
            session.close()
        return turns


# -- the report -----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def plot(path: Path, load_ms: list[float], http_ms: list[float], inproc_ms: list[float], title: str) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist([m / 1000 for m in load_ms], bins=30, color="tab:blue")
    left.set(xlabel="turn latency under load (s)", ylabel="turns", title="load: client-side, queueing included")
    for label, values in (("under load", load_ms), ("idle server (HTTP)", http_ms), ("in-process", inproc_ms)):
        if values:
            xs = sorted(v / 1000 for v in values)
            right.step(xs, [(k + 1) / len(xs) for k in range(len(xs))], where="post", label=label)
    right.set(xscale="log", xlabel="turn latency (s)", ylabel="fraction of turns", title="CDF")
    right.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", "-c", type=int, default=32)
    parser.add_argument("--turns", "-n", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=2, help="conversations of the side-by-side baseline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="per worker (default: cores / workers)")
    parser.add_argument("--burst", type=int, default=12, help="requests fired at once at --queue 1 --workers 1")
    parser.add_argument("--bound", type=float, default=180.0, help="seconds a burst request may take")
    parser.add_argument("--turn-timeout", type=float, default=1800.0, help="seconds a turn under load may take")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--home", type=Path, help="AGENTSPEC_HOME of the servers (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="folder for server.json and latency.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few conversations and turns (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.conversations, args.turns, args.baseline, args.burst = 4, 2, 1, 6
    args.threads = args.threads or max(1, (os.cpu_count() or 2) // args.workers)
    args.db = args.db.resolve()
    if not args.db.is_file():
        raise SystemExit(f"no retail db at {args.db}: pass --db PATH/db.json")

    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, _interrupted)
    tmp = None if args.home else tempfile.TemporaryDirectory(prefix="agentspec-server-bench-")
    home = (args.home or Path(tmp.name)).resolve()  # type: ignore[union-attr]
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AGENTSPEC_HOME"] = str(home)  # the in-process baseline's sessions and model cache
    try:
        result = bench(args, home)
    except KeyboardInterrupt:
        console.print("interrupted: stopping the servers")
        raise SystemExit(130)
    finally:
        _stop_all()
        if tmp is not None:
            tmp.cleanup()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "server.json").write_text(json.dumps(result, indent=1))
        plot(args.out / "latency.png", result.pop("_load_ms"), result.pop("_http_ms"), result.pop("_inproc_ms"),
             f"agentspec serve: {result['conversations']} conversations x {args.turns} turns, "
             f"{args.workers} worker(s) x {args.threads} thread(s)")
        console.print(f"wrote {args.out / 'server.json'} and {args.out / 'latency.png'}")
    for k in ("_load_ms", "_http_ms", "_inproc_ms"):
        result.pop(k, None)
    print(json.dumps(result))


def bench(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    started = time.perf_counter()
    key = issue_key(home, "bench")
    scripts = customer_scripts(args.db, args.conversations + args.baseline, args.turns, args.seed)
    load_scripts, base_scripts = scripts[:args.conversations], scripts[args.conversations:]
    url = start_server(home, args.db, workers=args.workers, threads=args.threads, queue=max(16, args.conversations))
    console.print(f"server ready at {url} ({args.workers} workers x {args.threads} threads), "
                  f"{time.perf_counter() - started:.0f} s")

    # 1. Baseline: the same turns over HTTP (idle server) and in-process, one at a time, alternated.
    asyncio.run(run_http_serial(url, key, ["Hello."], args.turn_timeout))  # warm-up: the reader loads
    inproc = InProcess(args.db, args.threads)
    inproc.run("bench-warmup", ["Hello."])
    http_turns: list[dict[str, Any]] = []
    inproc_turns: list[dict[str, Any]] = []
    for i, script in enumerate(base_scripts):
        http_turns += asyncio.run(run_http_serial(url, key, script, args.turn_timeout))
        inproc_turns += inproc.run(f"bench-inproc-{i}", script)
        console.print(f"baseline conversation {i + 1}/{len(base_scripts)} done")
    del inproc
    http_ok = [t for t in http_turns if t["ok"]]
    paired = [(h["ms"], p["ms"]) for h, p in zip(http_turns, inproc_turns) if h["ok"]]
    same = sum(h["reply"] == p["reply"] for h, p in zip(http_turns, inproc_turns))
    diffs = [{"message": h["text"], "http": h["reply"], "inprocess": p["reply"]}
             for h, p in zip(http_turns, inproc_turns) if h["ok"] and h["reply"] != p["reply"]]
    inproc_ms = [t["ms"] for t in inproc_turns]

    # 2. Load.
    with Progress(console=console, transient=True) as progress:
        load_turns, wall, lost = asyncio.run(run_load(url, key, load_scripts, args.turn_timeout, progress))
    _stop(server_proc(url))
    ok = [t for t in load_turns if t["ok"]]
    errors = [t["error"] for t in load_turns if not t["ok"]] + [t["error"] for t in http_turns if not t["ok"]]
    console.print(f"load: {len(load_turns)} turns in {wall:.0f} s, {len(errors)} errors, {lost} lost")

    # 3. Backpressure: a server with one worker and a queue of one.
    burst_url = start_server(home, args.db, workers=1, threads=args.threads, queue=1)
    burst = asyncio.run(run_burst(burst_url, key, args.burst, args.bound))
    _stop(server_proc(burst_url))
    console.print(f"burst of {args.burst}: {burst['rejected_429']} rejected with 429, {burst['accepted']} answered, "
                  f"{burst['hung']} hung")

    inproc_p50 = statistics.median(inproc_ms)
    http_p50 = statistics.median(t["ms"] for t in http_ok) if http_ok else None
    inproc_tps = len(inproc_ms) / (sum(inproc_ms) / 1000)
    load_ms = [t["ms"] for t in ok]
    streamed = [t["ttfe_ms"] for t in ok if t["stream"] and t["ttfe_ms"] is not None]
    return {
        "smoke": args.smoke, "conversations": len(load_scripts), "turns": len(load_turns),
        "errors": len(errors), "lost_messages": lost,
        "p50_ms": pct(load_ms, 0.5), "p95_ms": pct(load_ms, 0.95), "turns_per_s": round(len(ok) / wall, 3),
        "service_p50_ms": pct([t["service_ms"] for t in ok], 0.5),
        "stream_first_event_p50_ms": pct(streamed, 0.5), "retried_429": sum(t["retried"] for t in load_turns),
        "inprocess_p50_ms": round(inproc_p50, 1), "http_p50_ms": round(http_p50, 1) if http_p50 else None,
        "overhead_ratio": round(http_p50 / inproc_p50, 3) if http_p50 else None,
        "overhead_ms_p50": round(statistics.median(h - p for h, p in paired), 1) if paired else None,
        "http_service_p50_ms": pct([t["service_ms"] for t in http_ok], 0.5),
        "baseline_turns": len(inproc_turns), "baseline_same_replies": same, "baseline_reply_diffs": diffs[:2],
        "throughput_ratio": round((len(ok) / wall) / inproc_tps, 3),
        **burst, "workers": args.workers, "threads": args.threads, "error_examples": errors[:3],
        "seconds": round(time.perf_counter() - started, 1),
        "_load_ms": load_ms, "_http_ms": [t["ms"] for t in http_ok], "_inproc_ms": inproc_ms,
    }


if __name__ == "__main__":
    main()
