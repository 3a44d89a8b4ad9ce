"""Reader benchmark: the shipped reader on messages it has not read, with its tuned variants sharing the
encoder's lower layers and without (the baseline, measured side by side in the same run).

The reader runs MiniLM for its base heads and for each tuned variant (the answer members, the tuned
requests head), which fine-tune only the top layers: sharing runs the frozen lower layers once per
message. Both readers load the same folder; the baseline's variants are built standalone (every layer
their own). Each text is new to both (their caches never saw it), read by both in alternating order,
so load on the machine falls on both alike. Prints context lines, then as its LAST line one JSON
object:

- shared_p50_ms / unshared_p50_ms       median uncached ``read`` time, with and without sharing
- shared_mean_ms / unshared_mean_ms     the means
- speedup_p50                           unshared_p50_ms / shared_p50_ms (> 1: sharing is faster)
- identical                             share of texts whose readings are equal field for field (must be 1.0)
- texts, smoke

Texts: the replies of ``evals/replies`` (development material: dev and train files), distinct.

Usage: python benchmarks/reader.py [--texts 200] [--smoke] [--threads T]
--smoke: 6 texts (seconds, not figures): what CI runs so the benchmark cannot rot. --threads is accepted
for the common benchmark interface (numpy's own threads are used).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

HERE = Path(__file__).resolve().parent
REPLIES = HERE.parent / "evals" / "replies"
_WARM = 10  # texts read by both readers first (loading, first-call costs), not timed


def _texts() -> list[str]:
    """Every distinct reply of the development reply files, in file order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str) and node.strip():
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(REPLIES.glob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return list(dict.fromkeys(found))


def _readers() -> tuple[Any, Any]:
    """(shared, unshared): the default spec's reader, twice; the second's variants share nothing."""
    from agentspec.routing import encoder as encoder_module
    from agentspec.routing.reader import LearnedReader
    from agentspec.spec import load_spec

    spec = load_spec("retail")
    assert spec.understanding is not None
    folder = spec.resolve_path(spec.understanding.reader)
    shared = LearnedReader.load(folder)
    with mock.patch.object(encoder_module, "_first_layer", lambda names, num_layers: 0):
        unshared = LearnedReader.load(folder)
    return shared, unshared


def measure(texts: list[str]) -> dict[str, Any]:
    """Uncached read times of both readers over ``texts`` (after ``_WARM`` untimed ones), alternating."""
    shared, unshared = _readers()
    for text in texts[:_WARM]:
        shared.read(text), unshared.read(text)
    times: dict[str, list[float]] = {"shared": [], "unshared": []}
    same = 0
    timed = texts[_WARM:]
    for i, text in enumerate(timed):
        order = [("shared", shared), ("unshared", unshared)]
        readings = {}
        for name, reader in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            readings[name] = reader.read(text).as_dict()
            times[name].append((time.perf_counter() - started) * 1e3)
        same += readings["shared"] == readings["unshared"]
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(timed)} texts", file=sys.stderr)
    p50 = {name: statistics.median(values) for name, values in times.items()}
    return {"texts": len(timed), "shared_p50_ms": round(p50["shared"], 2), "unshared_p50_ms": round(p50["unshared"], 2),
            "shared_mean_ms": round(statistics.mean(times["shared"]), 2),
            "unshared_mean_ms": round(statistics.mean(times["unshared"]), 2),
            "speedup_p50": round(p50["unshared"] / p50["shared"], 3), "identical": same / len(timed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=200, help="timed texts (each new to both readers)")
    parser.add_argument("--smoke", action="store_true", help="6 texts: a check that it runs, not figures")
    parser.add_argument("--threads", type=int, default=1, help="accepted for the common interface")
    args = parser.parse_args(argv)
    wanted = 6 if args.smoke else args.texts
    texts = _texts()[: _WARM + wanted]
    if len(texts) <= _WARM:
        print(f"error: too few replies under {REPLIES} to time ({len(texts)})", file=sys.stderr)
        return 2
    result = measure(texts)
    print(f"uncached read, median: shared {result['shared_p50_ms']} ms, unshared {result['unshared_p50_ms']} ms "
          f"(x{result['speedup_p50']}); means {result['shared_mean_ms']} / {result['unshared_mean_ms']} ms; "
          f"identical readings {result['identical']:.3f} over {result['texts']} texts")
    print(json.dumps({**result, "smoke": args.smoke}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
