"""Long-term memory: recall latency at 10k and 100k memories, side by side with mem0's default setup.

Usage: python benchmarks/memory.py [--db DB] [--per-user N] [--users-100k U] [--queries Q] [--turns T]
                                   [--adds A] [--seed S] [--threads T] [--work DIR] [--out DIR] [--smoke]

Everything runs in one process, offline, in a private folder (a temporary one, or ``--work``):

1. Memories: realistic retail facts for every user of the τ²-retail db (``--db``), drawn with a seeded
   RNG: the texts the retail toolkit's own ``memories`` hook writes after a confirmed write (the
   address an order ships to, the card a payment or refund went to, what became of an order), a
   remembered address the customer has since left (stale) and a few preferences (a kind the store
   cannot check). ``--per-user`` (20) distinct texts a user: 500 users x 20 = the 10k level. Each text
   is embedded once (the numpy MiniLM, ``agentspec.routing.encoder``; its texts/s are reported).
2. 10k level, both stores loaded with the same memories (same vectors, same payloads as mem0's
   ``add(infer=False)`` writes them). **Bulk loading is setup only**: vectors go straight into the
   vector stores (``DurableFaiss.insert`` / mem0's ``Qdrant.insert``), bypassing ``mem0.add`` and its
   history; every timed add below goes through the real path.
   - ours: ``MemoryStore.open`` (SQLite + per-user faiss, ``agentspec.memory``);
   - mem0 default: ``mem0.Memory`` with mem0 2.2's default configuration (vector store ``qdrant`` in
     local on-disk mode, here under the work folder; default collection, search pipeline and
     threshold) except the embedder, which is the same MiniLM (mem0's default embedder is OpenAI,
     unreachable offline) with 384-wide vectors. The hybrid parts of mem0's search (BM25 through
     fastembed, entity boosts through spaCy) run only where those extras are installed; the JSON says
     which did (``mem0_hybrid``).
   Then ``--queries`` customer-like messages ("send it to the same place as last time", "refund it the
   usual way", ...), each for one user: ``MemoryStore.recall(user, q, 5)`` and mem0's
   ``Memory.search(q, filters={"user_id": user}, top_k=5)``, alternated query by query. Both timings
   include embedding the query: the encoder's text cache is off (``cache_size=0``), so no query is
   ever free (in an agent the reader may already have embedded the message, making it cheaper).
3. Turn overhead at 10k: the graph's own recall step (``agentspec.graph.recall.recall``, its
   ``AgentDeps`` built for the packaged retail spec without reader and retrieval) on a verified
   customer's message: recall with the spec's ``memory.recall`` / ``min_score``, the retail toolkit's
   ``verify_memory`` on each memory against a real ``RetailStore``, the same-key check, the prompt
   context and its grounding, and the step's writes for a stale memory (superseded, the live value
   remembered). ``turn_verdicts`` counts kept, stale and superseded memories.
   Goal: ``turn_overhead_p50_ms`` <= 50.
4. Adds: ``MemoryStore.remember`` of one fact (embedding, the duplicate / supersede check, mem0's add
   with its history write, SQLite commit with ``synchronous=FULL``): a new key (``add_p50_ms``) and a
   new address superseding the live ones (``add_supersede_p50_ms``); mem0 default's
   ``Memory.add(infer=False)`` side by side (``mem0_default_add_p50_ms``).
5. 100k level: ``--users-100k`` users (5000 x 20 = 100k; the db's users, then ids of their own reusing
   the db users' texts and vectors), bulk loaded, reopened (``open_s_100k``: the faiss indexes are
   rebuilt from SQLite), then the same kind of queries. mem0 default is not loaded at 100k: its local
   qdrant commits every point separately and searches every point in Python (see the 10k timings).

Last line: one JSON object with ``search_p50_ms_10k``, ``search_p99_ms_10k``, ``search_p50_ms_100k``,
``search_p99_ms_100k``, ``mem0_default_search_p50_ms_10k``/``_p99_``, ``search_speedup_vs_mem0_default``
(mem0 p50 / ours p50, same queries, same run), ``embed_p50_ms`` (the query embedding alone),
``index_search_p50_ms_10k``/``_100k`` and ``mem0_default_index_search_p50_ms_10k`` (the vector stores alone,
the query already embedded; mem0's with its over-fetch of 60), ``index_speedup_vs_mem0_default``,
``add_p50_ms``, ``add_supersede_p50_ms``, ``mem0_default_add_p50_ms``, ``turn_overhead_p50_ms``/``_p99_``,
``turn_verdicts``, ``recall_agreement_at_5`` (share of queries whose top-5 memory texts are the same set
in both stores; ours cut at mem0's default threshold 0.1), ``recall_agreement_at_5_ordered``, ``leaks``
(recalled memories of another user, over every search of both stores and every turn: must be 0),
``peak_rss_mb``, load and reopen times, counts and ``seconds``. ``--out DIR`` also writes
``DIR/memory.json`` and ``DIR/memory.png`` (p50/p99 bars).

Threads: BLAS (numpy's OpenBLAS, the encoder) and faiss (OpenMP) keep their defaults unless
``--threads T`` is given, which sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``
before numpy loads. On a 2-core machine whose other core is busy, OpenBLAS's default 2 threads make one
query's embedding ~20x slower (measured: 332 ms vs 14 ms): pass ``--threads 1`` there. The JSON records
``blas_threads``. ``--smoke``: 25 users x 6 memories, a few queries (CI). Ctrl-C or SIGTERM stops the
run cleanly (exit 130), removing the temporary folder.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # agentspec.memory imports numpy: lazily, after --threads is applied
    from agentspec.memory.store import Fact

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE.parent.parent / "shared" / "data" / "tau2-retail" / "db.json"
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
TOP_K = 5
MEM0_THRESHOLD = 0.1  # mem0's Memory.search default
TURN_GOAL_MS = 50.0
BASE_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
HEADLINE = ("smoke", "search_p50_ms_10k", "search_p99_ms_10k", "search_p50_ms_100k", "search_p99_ms_100k",
            "mem0_default_search_p50_ms_10k", "mem0_default_search_p99_ms_10k", "search_speedup_vs_mem0_default",
            "turn_overhead_p50_ms", "turn_overhead_p99_ms", "add_p50_ms", "mem0_default_add_p50_ms",
            "recall_agreement_at_5", "leaks", "peak_rss_mb")  # first in the JSON line; the rest follow

console: Any = None  # rich Console on stderr, made in main() (rich is imported after the thread settings)


def say(text: str) -> None:
    console.print(text)


# -- memories: realistic retail facts -------------------------------------------------------------

STREETS = ["Oak Street", "Maple Avenue", "Cedar Lane", "Pine Street", "Elm Street", "Lakeview Drive",
           "Hillcrest Road", "Willow Lane", "Park Avenue", "River Road", "Main Street", "Chestnut Street",
           "Sunset Drive", "Spruce Street"]
CITIES = [("Austin", "TX", "787"), ("Seattle", "WA", "981"), ("Denver", "CO", "802"), ("Columbus", "OH", "432"),
          ("Phoenix", "AZ", "850"), ("Chicago", "IL", "606"), ("Boston", "MA", "021"), ("San Diego", "CA", "921"),
          ("Charlotte", "NC", "282"), ("Portland", "OR", "972"), ("Fort Worth", "TX", "761"),
          ("Jacksonville", "FL", "322")]
RELATIONS = ["daughter", "son", "wife", "husband", "mother", "father", "sister", "brother", "best friend", "nephew",
             "niece"]
PREFERENCES = [
    "On {date} asked that parcels be left with the building concierge",
    "Asked on {date} not to receive promotional emails",
    "Buys the {product} ({options}) as a gift for their {relation}",
    "Said on {date} that the {product} ({options}) was a good fit and may order it again",
    "Wants to hear about any charge above ${amount} before it is made",
    "Prefers to be contacted by email rather than by phone after {hour} pm",
    "Travels for work in {month}; asked that nothing ship between the {day1}th and the {day2}th",
    "Was unhappy that the {product} arrived {days} days late (said on {date})",
    "Asked on {date} whether the {product} comes in {color}",
    "Keeps the receipts of every {product} order for their employer's expense reports",
    "Mentioned on {date} that their {relation}'s birthday is in {month}",
    "Said the courier could not find the entrance at {street} on {date}",
]
COLORS = ["blue", "black", "white", "red", "green", "grey", "beige", "navy", "purple", "yellow"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
REASONS = ["no longer needed", "ordered by mistake"]

# Queries: what a returning customer says. {city} {product} {order} come from the user's own data.
QUERIES = [
    "send it to the same place as last time", "ship it to my usual address",
    "can you deliver it where my last order went",
    "I moved recently, do you still have the right address", "please use my {city} address again",
    "refund it the usual way", "charge the card I used before", "put it on the same payment method as last time",
    "which card did I use for my last refund", "refund it to where the last refund went",
    "what happened with the {product} I wanted to return", "did my cancellation go through",
    "I want to exchange the {product} again", "is order {order} still pending", "where is my {product}",
    "the {product} is a gift again, like the last one", "remember I don't want promo emails",
    "can you check what I changed on my last order", "the price difference should go where it went before",
    "ship the {product} to the address you have on file",
]
OPENINGS = ["", "Hi, ", "Hello again. ", "Hey, quick question: ", "Thanks for last time! ", "Good morning, ", "Okay, "]
CLOSINGS = ["", ".", "?", ", thanks.", " please.", ", if that's possible.", " — thanks!"]


def _fake_address(rng: random.Random) -> dict[str, str]:
    city, state, zip3 = rng.choice(CITIES)
    return {"address1": f"{rng.randrange(100, 999)} {rng.choice(STREETS)}",
            "address2": f"Suite {rng.randrange(100, 999)}",
            "city": city, "state": state, "zip": f"{zip3}{rng.randrange(10, 99)}", "country": "USA"}


def moved_fact(store: Any, rng: random.Random) -> dict[str, str]:
    """The memory the retail toolkit writes when a customer moves to a made-up address (nowhere in the store)."""
    (fact,) = store.memories("modify_user_address", _fake_address(rng), "done")
    return fact


def user_facts(store: Any, data: dict[str, Any], user: dict[str, Any], n: int, rng: random.Random) -> list[Fact]:
    """``n`` distinct facts of ``user``: what the toolkit's ``memories`` hook writes after the writes such a
    customer makes (fresh against the store), then stale addresses and preferences to fill up."""
    from agentspec.memory.store import Fact

    facts: dict[str, Fact] = {}

    def hook(name: str, arguments: dict[str, Any]) -> None:
        for f in store.memories(name, arguments, "done"):
            facts.setdefault(f["text"], Fact(**f))

    hook("modify_user_address", dict(user["address"]))
    orders = [data["orders"][o] for o in user["orders"] if o in data["orders"]]
    methods = list(user.get("payment_methods") or {})
    for order in orders:
        oid, items = order["order_id"], order["items"]
        hook("modify_pending_order_address", {"order_id": oid, **order["address"]})
        for method in methods:
            hook("modify_pending_order_payment", {"order_id": oid, "payment_method_id": method})
        item = rng.choice(items) if items else None
        if item is None:
            continue
        variants = [v for v in data["products"].get(item["product_id"], {}).get("variants", {}) if v != item["item_id"]]
        method = rng.choice(methods) if methods else ""
        one = {"order_id": oid, "item_ids": [item["item_id"]], "payment_method_id": method}
        if order["status"] == "pending":
            hook("cancel_pending_order", {"order_id": oid, "reason": rng.choice(REASONS)})
            if variants:
                hook("modify_pending_order_items", {**one, "new_item_ids": [rng.choice(variants)]})
        elif order["status"] == "delivered":
            hook("return_delivered_order_items", one)
            if variants:
                hook("exchange_delivered_order_items", {**one, "new_item_ids": [rng.choice(variants)]})
    chosen = list(facts.values())
    rng.shuffle(chosen)
    chosen = chosen[:max(1, (n * 3) // 4)]  # room for the stale and the unverifiable ones
    products = [(i["name"], ", ".join(str(v) for v in (i.get("options") or {}).values()))
                for o in orders for i in o["items"]] or [(p["name"], "") for p in list(data["products"].values())[:5]]
    seen = {f.text for f in chosen}
    stale = 0
    while len(chosen) < n:
        if stale < max(1, n // 10):  # an address the customer has since left
            stale += 1
            fact = Fact(**moved_fact(store, rng))
        else:
            product, options = rng.choice(products)
            day1 = rng.randrange(1, 20)
            text = rng.choice(PREFERENCES).format(
                product=product, options=options or "standard", relation=rng.choice(RELATIONS),
                amount=rng.choice([50, 75, 100, 150, 200, 300, 500]), month=rng.choice(MONTHS),
                days=rng.randrange(2, 9),
                date=(BASE_TIME + dt.timedelta(days=rng.randrange(300))).strftime("%B %d").replace(" 0", " "),
                hour=rng.randrange(5, 10), day1=day1, day2=day1 + rng.randrange(3, 9), color=rng.choice(COLORS),
                street=user["address"]["address1"])
            fact = Fact(text, f"preference:{hashlib.md5(text.encode()).hexdigest()[:8]}", text, "preference")
        if fact.text not in seen:
            seen.add(fact.text)
            chosen.append(fact)
    return chosen


def user_query(data: dict[str, Any], user: dict[str, Any], rng: random.Random) -> str:
    orders = [data["orders"][o] for o in user["orders"] if o in data["orders"]]
    products = [i["name"] for o in orders for i in o["items"]] or ["order"]
    order = orders[0]["order_id"] if orders else "#W0000000"
    body = rng.choice(QUERIES).format(city=user["address"]["city"], product=rng.choice(products).lower(), order=order)
    opening = rng.choice(OPENINGS)
    return opening + (body[0].upper() + body[1:] if not opening or opening.endswith((". ", "! ", ": ")) else body) \
        + rng.choice(CLOSINGS)


def seed_payload(user_id: str, fact: Fact, rng: random.Random) -> dict[str, Any]:
    """The payload mem0's ``add(infer=False)`` writes for ``fact`` (``Memory._create_memory``), metadata
    as ``MemoryStore.remember`` passes it."""
    from mem0.utils.lemmatization import lemmatize_for_bm25

    created = (BASE_TIME + dt.timedelta(seconds=rng.randrange(300 * 86400))).isoformat()
    return {"key": fact.key, "value": fact.value, "kind": fact.kind, "session": f"seed-{rng.randrange(10**6):06d}",
            "turn": rng.randrange(1, 12), "user_id": user_id, "role": "user", "data": fact.text,
            "hash": hashlib.md5(fact.text.encode()).hexdigest(), "created_at": created, "updated_at": created,
            "text_lemmatized": lemmatize_for_bm25(fact.text)}


# -- figures --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1e3


PLOT_ORDER = ("ours search 10k", "mem0 default search 10k", "ours search 100k", "query embedding", "ours index only 10k",
              "mem0 default index only 10k", "turn overhead 10k", "ours add", "ours add (supersede)", "mem0 default add")


def plot(path: Path, series: dict[str, list[float]], title: str) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in PLOT_ORDER if series.get(n)] + [n for n, v in series.items() if v and n not in PLOT_ORDER]
    p50 = [pct(series[n], 0.5) or 0 for n in names]
    p99 = [pct(series[n], 0.99) or 0 for n in names]
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(names) + 2), 4.5))
    xs = range(len(names))
    w = 0.38
    bars50 = ax.bar([x - w / 2 for x in xs], p50, w, label="p50", color="tab:blue")
    bars99 = ax.bar([x + w / 2 for x in xs], p99, w, label="p99", color="tab:orange")
    for bars in (bars50, bars99):
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.axhline(TURN_GOAL_MS, color="gray", linestyle="--", linewidth=1,
               label=f"turn overhead goal ({TURN_GOAL_MS:g} ms)")
    ax.set_xticks(list(xs), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("ms (log scale)")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the run --------------------------------------------------------------------------------------


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run as Ctrl-C does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="τ²-retail db.json (default: ../shared/data/...)")
    parser.add_argument("--users", type=int, help="db users at the 10k level (default: all 500)")
    parser.add_argument("--per-user", type=int, default=20, help="memories per user (500 x 20 = 10k)")
    parser.add_argument("--users-100k", type=int, default=5000, help="users at the 100k level")
    parser.add_argument("--queries", type=int, default=1000, help="timed searches per level")
    parser.add_argument("--turns", type=int, default=500, help="timed recall steps (turn overhead)")
    parser.add_argument("--adds", type=int, default=100, help="timed MemoryStore.remember calls of each kind")
    parser.add_argument("--mem0-adds", type=int, default=50, help="timed mem0 default Memory.add calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads (default: the libraries' own)")
    parser.add_argument("--work", type=Path, help="folder for the stores (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, help="folder for memory.json and memory.png")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.users, args.per_user, args.users_100k = 25, 6, 100
        args.queries, args.turns, args.adds, args.mem0_adds = 20, 10, 4, 3
    if args.threads:
        for name in BLAS_THREADS:  # before numpy (imported below, lazily) sizes its thread pool
            os.environ[name] = str(args.threads)
    args.db = args.db.resolve()
    if not args.db.is_file():
        raise SystemExit(f"no retail db at {args.db}: pass --db PATH/db.json")

    global console
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    signal.signal(signal.SIGTERM, _interrupted)
    tmp = None if args.work else tempfile.mkdtemp(prefix="agentspec-memory-bench-")
    work = (args.work or Path(tmp)).resolve()  # type: ignore[arg-type]
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MEM0_DIR"] = str(work / "mem0-dir")  # read when mem0 is first imported: keep it in the run
    try:
        result, series = bench(args, work)
    except KeyboardInterrupt:
        say("interrupted: stores closed, work folder removed")
        raise SystemExit(130)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "memory.json").write_text(json.dumps({**result, "latencies_ms": series}, indent=1))
        plot(args.out / "memory.png", series,
             f"long-term memory on {os.cpu_count()} cores, BLAS threads {result['blas_threads']}: "
             f"{result['memories_10k']} / {result['memories_100k']} memories")
        say(f"wrote {args.out / 'memory.json'} and {args.out / 'memory.png'}")
    print(json.dumps(result))


def bench(args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The whole run (module docstring); stores are closed on the way out, whatever ends it."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        run = Run(args, work, stack)
        result: dict[str, Any] = {"smoke": args.smoke}
        run.embed_facts(result)
        run.level_10k(result)
        run.turn_overhead(result)
        run.adds(result)
        run.close_10k()
        run.level_100k(result)
        result.update({
            "leaks": sum(run.leaks.values()), "leaks_by_part": run.leaks, "peak_rss_mb": peak_rss_mb(),
            "rss_mb": run.rss, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "cpus": os.cpu_count(),
            "mem0_version": _version("mem0ai"), "qdrant_client_version": _version("qdrant-client"),
            "mem0_hybrid": {"bm25": importlib.util.find_spec("fastembed") is not None,
                            "entities": importlib.util.find_spec("spacy") is not None},
            "seed": args.seed, "seconds": round(time.perf_counter() - started, 1)})
        first = [k for k in HEADLINE if k in result]
        result = {**{k: result[k] for k in first}, **{k: v for k, v in result.items() if k not in first}}
        return result, {name: [round(v, 3) for v in values] for name, values in run.series.items()}


class Run:
    """The stores, the facts and what was measured so far; one method a phase (module docstring)."""

    def __init__(self, args: argparse.Namespace, work: Path, stack: contextlib.ExitStack):
        from agentspec.memory import _mem0  # noqa: F401  first: telemetry off, mem0's folder (MEM0_DIR) set
        from agentspec.routing.encoder import SentenceEncoder
        from agentspec.tools.retail import RetailStore

        self.args, self.work, self.stack = args, work, stack
        self.rng = random.Random(args.seed)
        self.data = json.loads(args.db.read_text(encoding="utf-8"))
        self.db_users = list(self.data["users"].values())[:args.users or None]
        self.retail = RetailStore.from_json(self.data)
        stack.callback(self.retail.close)
        self.encoder = SentenceEncoder.load(cache_size=0)  # no query is ever embedded for free (module docstring)
        self.leaks = {"ours_10k": 0, "mem0_default_10k": 0, "turns": 0, "ours_100k": 0}
        self.rss: dict[str, float] = {}
        self.series: dict[str, list[float]] = {}

    def progress(self) -> Any:
        from rich.progress import Progress

        return Progress(console=console, transient=True)

    # -- 1. facts and their vectors -----------------------------------------------------------------
    def embed_facts(self, result: dict[str, Any]) -> None:
        import numpy as np

        self.facts = {u["user_id"]: user_facts(self.retail, self.data, u, self.args.per_user, self.rng)
                      for u in self.db_users}
        pool = [f for u in self.db_users for f in self.facts[u["user_id"]]]
        self.vectors = np.zeros((len(pool), 384), dtype=np.float32)
        self.offsets, first = {}, 0  # db user id -> index of its first fact in self.vectors
        for u in self.db_users:
            self.offsets[u["user_id"]], first = first, first + len(self.facts[u["user_id"]])
        started = time.perf_counter()
        with self.progress() as progress:
            task = progress.add_task(f"embedding {len(pool)} memory texts", total=len(pool))
            for s in range(0, len(pool), 256):
                self.vectors[s:s + 256] = self.encoder.embed([f.text for f in pool[s:s + 256]])
                progress.update(task, advance=len(pool[s:s + 256]))
        seconds = time.perf_counter() - started
        say(f"embedded {len(pool)} texts in {seconds:.0f} s ({len(pool) / seconds:.0f} texts/s)")
        result.update(distinct_texts=len({f.text for f in pool}), embed_pool_s=round(seconds, 1),
                      embed_texts_per_s=round(len(pool) / seconds, 1))

    def memories_of(self, users: list[tuple[str, dict[str, Any]]]) -> Any:
        """(id, vector, payload) of every memory of ``users``: (user id, the db user whose facts it has)."""
        for user_id, base in users:
            first = self.offsets[base["user_id"]]
            for j, fact in enumerate(self.facts[base["user_id"]]):
                yield (str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), self.vectors[first + j],
                       seed_payload(user_id, fact, self.rng))

    def bulk(self, insert: Any, users: list[tuple[str, dict[str, Any]]], label: str, batch: int) -> tuple[int, float]:
        """Setup only: ``insert(vectors, payloads, ids)`` straight into a vector store, in batches."""
        started, count = time.perf_counter(), 0
        total = sum(len(self.facts[base["user_id"]]) for _, base in users)
        with self.progress() as progress:
            task = progress.add_task(label, total=total)
            chunk: list[tuple[str, Any, dict[str, Any]]] = []
            for item in self.memories_of(users):
                chunk.append(item)
                if len(chunk) == batch or count + len(chunk) == total:
                    insert([c[1] for c in chunk], [c[2] for c in chunk], [c[0] for c in chunk])
                    count += len(chunk)
                    progress.update(task, advance=len(chunk))
                    chunk = []
        return count, time.perf_counter() - started

    def queries_for(self, users: list[tuple[str, dict[str, Any]]], n: int) -> list[tuple[str, str]]:
        return [(user_id, user_query(self.data, base, self.rng)) for user_id, base in (self.rng.choice(users)
                                                                                       for _ in range(n))]

    # -- 2. the 10k level: ours and mem0's default, same memories ---------------------------------------
    def level_10k(self, result: dict[str, Any]) -> None:
        from agentspec.memory._mem0 import Memory
        from agentspec.memory.embedder import MiniLMEmbedding
        from agentspec.memory.store import MemoryStore

        users = [(u["user_id"], u) for u in self.db_users]
        self.ours = MemoryStore.open(self.work / "ours-10k", encoder=self.encoder)
        self.close_ours = once(self.stack, self.ours.close)
        state = self.rng.getstate()  # both stores get the same ids and payloads
        n, ours_s = self.bulk(self.ours.vectors.insert, users, "loading ours (10k level)", 1000)
        say(f"ours: {n} memories of {len(users)} users loaded in {ours_s:.1f} s")
        self.mem0 = Memory.from_config({
            # mem0's defaults (vector store qdrant in local mode, collection "mem0", on_disk False; search
            # pipeline and threshold) with the path under the run and the MiniLM's width; the openai
            # blocks are built (mem0 requires them) but never called.
            "vector_store": {"provider": "qdrant",
                             "config": {"path": str(self.work / "qdrant"), "embedding_model_dims": 384}},
            "embedder": {"provider": "openai", "config": {"api_key": "unused-offline", "embedding_dims": 384}},
            "llm": {"provider": "openai", "config": {"api_key": "unused-offline"}},
            "history_db_path": str(self.work / "mem0-history.db"),
        })
        self.mem0.embedding_model = MiniLMEmbedding(self.encoder)
        mem0 = self.mem0
        self.close_mem0 = once(self.stack, lambda: (mem0.vector_store.client.close(), mem0.close()))
        self.rng.setstate(state)
        _, mem0_s = self.bulk(lambda v, p, i: mem0.vector_store.insert([x.tolist() for x in v], p, i), users,
                              "loading mem0 default (qdrant local: one commit a point)", 250)
        say(f"mem0 default: {n} memories loaded in {mem0_s:.1f} s")
        self.rss["after_10k_load"] = rss_mb()

        queries = self.queries_for(users, self.args.queries)
        for user, q in queries[:3]:  # warm-up: first-call costs of faiss, qdrant, the encoder
            self.ours.recall(user, q, TOP_K)
            mem0.search(q, filters={"user_id": user}, top_k=TOP_K)
        ours_ms: list[float] = []
        mem0_ms: list[float] = []
        agree = agree_ordered = 0
        with self.progress() as progress:
            task = progress.add_task("searching 10k: ours and mem0 default, alternated", total=len(queries))
            for i, (user, q) in enumerate(queries):
                if i % 2 == 0:
                    ours, ms = timed(self.ours.recall, user, q, TOP_K)
                    ours_ms.append(ms)
                theirs, ms = timed(mem0.search, q, filters={"user_id": user}, top_k=TOP_K)
                mem0_ms.append(ms)
                if i % 2 == 1:
                    ours, ms = timed(self.ours.recall, user, q, TOP_K)
                    ours_ms.append(ms)
                self.leaks["ours_10k"] += sum(m.user_id != user for m in ours)
                self.leaks["mem0_default_10k"] += sum(r.get("user_id") != user for r in theirs["results"])
                a = [m.text for m in ours if (m.score or 0.0) >= MEM0_THRESHOLD]  # mem0's default threshold
                b = [r["memory"] for r in theirs["results"]]
                agree += set(a) == set(b)
                agree_ordered += a == b
                progress.update(task, advance=1)
        embed_ms, index_ms, mem0_index_ms = [], [], []
        for user, q in queries[:200]:  # the parts: the query's embedding, then each vector store alone
            vector, ms = timed(self.encoder.embed, [q])
            embed_ms.append(ms)
            index_ms.append(timed(self.ours.vectors.search, q, vector[0], top_k=TOP_K,
                                  filters={"user_id": user, "superseded_by": None})[1])
            mem0_index_ms.append(timed(mem0.vector_store.search, query=q, vectors=vector[0].tolist(),
                                       top_k=max(TOP_K * 4, 60), filters={"user_id": user})[1])  # mem0's over-fetch
        say(f"10k: ours p50 {pct(ours_ms, 0.5)} ms, mem0 default p50 {pct(mem0_ms, 0.5)} ms, "
            f"same top-5 {agree}/{len(queries)}")
        result.update({
            "search_p50_ms_10k": pct(ours_ms, 0.5), "search_p99_ms_10k": pct(ours_ms, 0.99),
            "mem0_default_search_p50_ms_10k": pct(mem0_ms, 0.5), "mem0_default_search_p99_ms_10k": pct(mem0_ms, 0.99),
            "search_speedup_vs_mem0_default": ratio(pct(mem0_ms, 0.5), pct(ours_ms, 0.5)),
            "search_p99_speedup_vs_mem0_default": ratio(pct(mem0_ms, 0.99), pct(ours_ms, 0.99)),
            "embed_p50_ms": pct(embed_ms, 0.5), "index_search_p50_ms_10k": pct(index_ms, 0.5),
            "mem0_default_index_search_p50_ms_10k": pct(mem0_index_ms, 0.5),
            "index_speedup_vs_mem0_default": ratio(pct(mem0_index_ms, 0.5), pct(index_ms, 0.5)),
            "recall_agreement_at_5": round(agree / max(1, len(queries)), 4),
            "recall_agreement_at_5_ordered": round(agree_ordered / max(1, len(queries)), 4),
            "memories_10k": n, "users_10k": len(users), "queries_10k": len(queries),
            "bulk_load_s_10k": round(ours_s, 2), "mem0_default_bulk_load_s_10k": round(mem0_s, 2)})
        self.series.update({"ours search 10k": ours_ms, "mem0 default search 10k": mem0_ms, "query embedding": embed_ms,
                            "ours index only 10k": index_ms, "mem0 default index only 10k": mem0_index_ms})

    # -- 3. turn overhead at 10k: the graph's own recall step, its writes for stale memories included ---
    def turn_overhead(self, result: dict[str, Any]) -> None:
        from agentspec.graph.recall import recall

        deps = _recall_deps(self.ours, self.retail)
        k, min_score = deps.spec.memory.recall, deps.spec.memory.min_score
        turn_ms: list[float] = []
        verdicts = {"kept": 0, "stale": 0, "superseded": 0}
        recalled = 0
        turns = self.queries_for([(u["user_id"], u) for u in self.db_users], self.args.turns)
        with self.progress() as progress:
            task = progress.add_task("recall steps (turn overhead, 10k)", total=len(turns))
            for number, (user, q) in enumerate(turns):
                state = {"user_id": user, "turn": number + 1, "messages": [{"role": "user", "content": q}]}
                started = time.perf_counter()
                (entry,) = recall(state, deps)["trace"]
                turn_ms.append((time.perf_counter() - started) * 1e3)
                verdicts["kept"] += len(entry["memories"])
                for dropped in entry["dropped"]:
                    verdicts[dropped["why"]] += 1
                recalled += len(entry["memories"]) + len(entry["dropped"])
                owners = {m.id: m.user_id for m in self.ours.memories(user)}
                self.leaks["turns"] += sum(m["id"] not in owners for m in entry["memories"])
                progress.update(task, advance=1)
        say(f"turn overhead p50 {pct(turn_ms, 0.5)} ms over {len(turns)} turns, verdicts {verdicts}")
        result.update({
            "turn_overhead_p50_ms": pct(turn_ms, 0.5), "turn_overhead_p99_ms": pct(turn_ms, 0.99),
            "turn_overhead_goal_ms": TURN_GOAL_MS,
            "turn_overhead_within_goal": bool(turn_ms) and (pct(turn_ms, 0.5) or 0.0) <= TURN_GOAL_MS,
            "turn_verdicts": verdicts, "turn_recalled_mean": round(recalled / max(1, len(turns)), 2),
            "turn_recall_k": k, "turn_min_score": min_score, "turns": len(turns)})
        self.series["turn overhead 10k"] = turn_ms

    # -- 4. adds: ours (a new key; a new address superseding the live ones) and mem0 default's ----------
    def adds(self, result: dict[str, Any]) -> None:
        from agentspec.memory.store import Fact

        add_ms, supersede_ms, mem0_add_ms = [], [], []
        skipped = 0
        products = [p["name"] for p in self.data["products"].values()]
        with self.progress() as progress:
            task = progress.add_task("timed adds", total=2 * self.args.adds + self.args.mem0_adds)
            for i in range(self.args.adds):
                user = self.rng.choice(self.db_users)["user_id"]
                text = (f"Asked on {(BASE_TIME + dt.timedelta(days=300 + i)).date()} to be told when the "
                        f"{self.rng.choice(products).lower()} is back in {self.rng.choice(COLORS)}")
                added, ms = timed(self.ours.remember, user, [Fact(text, f"wish:{i}", text, "preference")],
                                  session="bench-add", turn=i)
                add_ms.append(ms)
                skipped += not added
                fact = Fact(**moved_fact(self.retail, self.rng))
                added, ms = timed(self.ours.remember, user, [fact], session="bench-add", turn=i)
                supersede_ms.append(ms)
                skipped += not added
                progress.update(task, advance=2)
            for i in range(self.args.mem0_adds):
                user = self.rng.choice(self.db_users)["user_id"]
                text = f"Asked on {(BASE_TIME + dt.timedelta(days=400 + i)).date()} for a callback about the last order"
                _, ms = timed(self.mem0.add, text, user_id=user, infer=False,
                              metadata={"key": f"wish:{i}", "value": text, "kind": "preference", "session": "bench-add",
                                        "turn": i})
                mem0_add_ms.append(ms)
                progress.update(task, advance=1)
        say(f"adds: ours p50 {pct(add_ms, 0.5)} ms (superseding {pct(supersede_ms, 0.5)} ms), "
            f"mem0 default p50 {pct(mem0_add_ms, 0.5)} ms")
        result.update({
            "add_p50_ms": pct(add_ms, 0.5), "add_p99_ms": pct(add_ms, 0.99),
            "add_supersede_p50_ms": pct(supersede_ms, 0.5),
            "adds_skipped": skipped, "mem0_default_add_p50_ms": pct(mem0_add_ms, 0.5),
            "add_speedup_vs_mem0_default": ratio(pct(mem0_add_ms, 0.5), pct(add_ms, 0.5)),
            "adds": len(add_ms), "mem0_adds": len(mem0_add_ms)})
        self.series.update({"ours add": add_ms, "ours add (supersede)": supersede_ms, "mem0 default add": mem0_add_ms})
        self.rss["after_10k"] = rss_mb()

    def close_10k(self) -> None:
        self.close_ours()
        self.close_mem0()
        del self.ours, self.mem0, self.close_ours, self.close_mem0  # the 100k level's RSS without them

    # -- 5. the 100k level: the db's users, then users of our own with their facts and vectors ----------
    def level_100k(self, result: dict[str, Any]) -> None:
        from agentspec.memory.store import MemoryStore

        users = [(u["user_id"], u) for u in self.db_users]
        users += [(f"bench_user_{j:05d}", self.db_users[j % len(self.db_users)])
                  for j in range(len(self.db_users), self.args.users_100k)]
        loading = MemoryStore.open(self.work / "ours-100k", encoder=self.encoder)
        close_loading = once(self.stack, loading.close)
        n, load_s = self.bulk(loading.vectors.insert, users, "loading ours (100k level)", 2000)
        close_loading()
        del loading, close_loading
        big, open_ms = timed(MemoryStore.open, self.work / "ours-100k", self.encoder)
        close_big = once(self.stack, big.close)
        say(f"100k: {n} memories of {len(users)} users loaded in {load_s:.0f} s, reopened in {open_ms / 1e3:.1f} s")
        queries = self.queries_for(users, self.args.queries)
        for user, q in queries[:3]:
            big.recall(user, q, TOP_K)
        index_ms = []
        for user, q in queries[:200]:
            vector = self.encoder.embed([q])[0]
            index_ms.append(timed(big.vectors.search, q, vector, top_k=TOP_K,
                                  filters={"user_id": user, "superseded_by": None})[1])
        big_ms = []
        with self.progress() as progress:
            task = progress.add_task("searching 100k: ours", total=len(queries))
            for user, q in queries:
                found, ms = timed(big.recall, user, q, TOP_K)
                big_ms.append(ms)
                self.leaks["ours_100k"] += sum(m.user_id != user for m in found)
                progress.update(task, advance=1)
        self.rss["after_100k"] = rss_mb()
        close_big()
        say(f"100k: ours p50 {pct(big_ms, 0.5)} ms")
        result.update({
            "search_p50_ms_100k": pct(big_ms, 0.5), "search_p99_ms_100k": pct(big_ms, 0.99),
            "index_search_p50_ms_100k": pct(index_ms, 0.5), "memories_100k": n, "users_100k": len(users),
            "queries_100k": len(queries), "bulk_load_s_100k": round(load_s, 2), "open_s_100k": round(open_ms / 1e3, 2)})
        self.series["ours search 100k"] = big_ms


def once(stack: contextlib.ExitStack, close: Any) -> Any:
    """``close`` made idempotent and registered on ``stack`` (run on exit, Ctrl-C included, if not before)."""
    pending = [close]  # emptied when run: a closed store is no longer referenced from here

    def run() -> None:
        while pending:
            pending.pop()()

    stack.callback(run)
    return run


def _recall_deps(memory: Any, retail: Any) -> Any:
    """The dependencies the graph's recall step reads, for the packaged retail spec without its reader
    and retrieval (no model is asked): its memory block, this store, the retail toolkit's hooks."""
    from agentspec.graph.deps import AgentDeps
    from agentspec.runtime.base import GenerationSettings
    from agentspec.runtime.scripted import ScriptedChatModel
    from agentspec.spec import load_spec
    from agentspec.toolkit import ToolRegistry

    spec = load_spec("retail")
    spec = spec.model_copy(update={"understanding": None, "retrieval": None, "adapters": [],
                                   "routing": spec.routing.model_copy(update={"router": None})})
    registry = ToolRegistry()
    toolkits = {tool.name: retail for tool in registry.register(retail)}
    return AgentDeps(spec=spec, model=ScriptedChatModel(), decoder=None, registry=registry, toolkits=toolkits,
                     settings=GenerationSettings(), memory=memory, session="bench")


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
