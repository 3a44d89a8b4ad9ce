"""``agentspec experiment compression``: the specialized model at F16, Q8_0, Q4_K_M and a 3-bit type.

    run_compression(CompressionSettings(adapter_dir="run/lora", suite="run/suite", db="db.json", out="comp"))

What is measured, for each quantization type of the merged model (base + LoRA, ``train export --merged``):

- **size**: the GGUF file in bytes (and relative to F16);
- **speed**: prompt and decode tokens/s on a fixed prompt with agentspec's llama.cpp runtime (``_bench``);
- **perplexity** on held-out domain text: the suite's test-split users rendered by ``eval corpus``
  (``write_corpus``), scored by ``eval perplexity`` (the same documents, window and stride for all);
- **pass^1** on the suite's test split: the ``retail`` agent with the merged file as its model and
  no adapter (its request scope fitted on the adapter's training data when that folder still exists,
  else the shipped one), the scripted user, ``trials`` per task; each quantized variant is also
  compared with F16 task by task (``eval compare``'s paired bootstrap: difference, 95% interval, p-value).

F16 is always measured: it is the reference, and the file every other type is quantized from by
llama.cpp's own quantizer. Output folder:

    experiment.json            what this folder measures (a rerun must match it)
    models/merged.<Q>.gguf     the variants
    corpus.txt                 held-out text for perplexity
    variants/<Q>/              spec.yaml, bench.json, perplexity.json, tau/ (the eval run), result.json
    compression.json / .md / .png   the report (JSON and Markdown after every variant, the PNG at the end)

Resumable: each step of a variant saves its result as it finishes; a variant with ``result.json`` is
skipped, an interrupted one continues where it stopped (the tau run resumes per episode). More
``quants`` can be added to a finished experiment; other changed settings are an error.

Not here: training (``train lora``), the speed benchmark's method (``_bench``), the report layout (``_report``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from . import _bench
from ._common import (ExperimentInputError, check_adapter_dir, check_db, check_suite, claim_dir, heldout_tasks,
                      measure_pass1, paired, read_json, training_prompt,
                      variant_spec, write_json)
from ._report import write_compression_report

__all__ = ["CompressionSettings", "run_compression", "DEFAULT_QUANTS"]

DEFAULT_QUANTS = ("F16", "Q8_0", "Q4_K_M", "Q3_K_M")


@dataclass
class CompressionSettings:
    out: str
    db: str
    adapter_dir: str | None = None  # `train lora --out` (or its adapter/); or `run`
    suite: str | None = None  # `eval generate --out`; default with `run`: RUN/suite
    run: str | None = None  # `train pipeline --out`: adapter RUN/lora/adapter, suite RUN/suite
    base: str | None = None  # the adapter's base GGUF (default: the one `train lora` recorded)
    quants: tuple[str, ...] = DEFAULT_QUANTS
    tasks: int | None = None  # first N test-split tasks (None: all)
    trials: int = 1
    max_turns: int = 30
    user: str = "scripted"  # the evals' rule-based customer: scripted or varied
    seed: int = 0
    threads: int | None = None  # llama.cpp threads everywhere (None: all cores)
    ppl_docs: int = 40  # held-out users in the perplexity corpus
    ppl_window: int = 1024
    ppl_max_tokens: int | None = None  # per document
    bench_prompt: int = 512
    bench_decode: int = 64
    bench_repeats: int = 3
    progress: bool = True


def _inputs(s: CompressionSettings) -> tuple[Path, Path, Path]:
    """(adapter folder, suite folder, db), checked; ``run`` fills in what is not given."""
    if s.run:
        run = Path(s.run)
        if not run.is_dir():
            raise ExperimentInputError(f"pipeline folder {run} does not exist",
                                       hint="Pass the --out folder of `agentspec train pipeline`.")
        adapter = check_adapter_dir(s.adapter_dir or run / "lora")
        suite = check_suite(s.suite or run / "suite")
    else:
        if not s.adapter_dir:
            raise ExperimentInputError("no adapter given", hint="Pass --adapter-dir LORA_OUT (or --run PIPELINE_OUT).")
        adapter, suite = check_adapter_dir(s.adapter_dir), check_suite(s.suite)
    return adapter, suite, check_db(s.db)


def _quants(quants: tuple[str, ...]) -> list[str]:
    from agentspec.runtime.quantize import QUANT_TYPES

    wanted = [q.strip().upper() for q in quants if q.strip()]
    bad = [q for q in wanted if q not in QUANT_TYPES]
    if bad:
        raise ExperimentInputError(f"unknown quantization type(s) {', '.join(bad)}",
                                   hint=f"Use types of llama.cpp's quantizer: {', '.join(QUANT_TYPES)}.")
    return ["F16"] + [q for i, q in enumerate(wanted) if q != "F16" and q not in wanted[:i]]


def _model_file(quant: str, adapter: Path, models: Path, base: str | None, threads: int | None,
                console: Console) -> Path:
    """models/merged.<quant>.gguf, made if missing: F16 by merging, the others from F16."""
    from agentspec.runtime.quantize import quantize_gguf
    from agentspec.train.export import export_merged

    f16 = models / "merged.F16.gguf"
    if not f16.is_file():
        with console.status("merging the adapter into the base (F16) ..."):
            export_merged(adapter, models, [], base=base)
    target = models / f"merged.{quant}.gguf"
    if not target.is_file():
        with console.status(f"quantizing to {quant} ..."):
            quantize_gguf(f16, target, quant, n_threads=threads)
    return target


def _perplexity(model: Path, corpus: Path, s: CompressionSettings) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from agentspec.evals.corpus import load_corpus
    from agentspec.evals.perplexity import load_scorer, perplexity

    documents = load_corpus(corpus)
    scorer = load_scorer(model=str(model), threads=s.threads, n_ctx=s.ppl_window)
    with Progress(TextColumn("perplexity"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not s.progress) as bar:
        task = bar.add_task("documents", total=len(documents))
        result = perplexity(documents, scorer, window=s.ppl_window, max_tokens_per_doc=s.ppl_max_tokens,
                            on_document=lambda done, _tokens: bar.update(task, completed=done))
    return result.to_dict()


def _variant(quant: str, adapter: Path, suite: Path, db: Path, out: Path, prompt: str | None,
             s: CompressionSettings, console: Console) -> dict[str, Any]:
    """Measure one variant, each step saved as it finishes; returns (and writes) its result.json."""
    folder = out / "variants" / quant
    model = _model_file(quant, adapter, out / "models", s.base, s.threads, console)
    bench = read_json(folder / "bench.json")
    if bench is None:
        with console.status(f"{quant}: speed benchmark ..."):
            bench = _bench.benchmark(model, threads=s.threads, prompt_tokens=s.bench_prompt,
                                     decode_tokens=s.bench_decode, repeats=s.bench_repeats)
        write_json(folder / "bench.json", bench)
    console.print(f"{quant}: prompt {bench['prompt_tokens_per_s']:.0f} tok/s, decode {bench['decode_tokens_per_s']:.1f} tok/s")
    ppl = read_json(folder / "perplexity.json")
    if ppl is None:
        ppl = _perplexity(model, out / "corpus.txt", s)
        write_json(folder / "perplexity.json", ppl)
    console.print(f"{quant}: perplexity {ppl['perplexity']:.3f} on {ppl['tokens']} held-out tokens")
    spec = variant_spec(folder / "spec.yaml", name=f"retail-merged-{quant.lower()}", model=str(model),
                        prompt=prompt, threads=s.threads)
    tau = measure_pass1(spec, heldout_tasks(suite, s.tasks), db, folder / "tau", trials=s.trials,
                        threads=s.threads, max_turns=s.max_turns, seed=s.seed, user=s.user,
                         progress=s.progress)
    size = model.stat().st_size
    result = {"quant": quant, "model": str(model), "bytes": size, "size_mb": round(size / 2**20, 2),
              "prompt_tokens_per_s": bench["prompt_tokens_per_s"], "decode_tokens_per_s": bench["decode_tokens_per_s"],
              "perplexity": ppl["perplexity"], "mean_nll": ppl["mean_nll"], "ppl_tokens": ppl["tokens"],
              **tau, "bench": bench, "threads": s.threads or os.cpu_count()}
    write_json(folder / "result.json", result)
    return result


def run_compression(s: CompressionSettings, console: Console | None = None) -> dict[str, Any]:
    """Measure every variant not finished yet, then write the reports; returns compression.json's content."""
    from agentspec.evals.corpus import write_corpus

    console = console or Console()
    # 1. Inputs, all checked before anything slow.
    adapter, suite, db = _inputs(s)
    quants = _quants(s.quants)
    if s.trials < 1 or s.max_turns < 1 or (s.tasks is not None and s.tasks < 1):
        raise ExperimentInputError(f"trials={s.trials}, max_turns={s.max_turns}, tasks={s.tasks}",
                                   hint="each must be at least 1")
    tasks = heldout_tasks(suite, s.tasks)
    out = Path(s.out)
    weights = hashlib.sha256((adapter / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]
    claim_dir(out, {"experiment": "compression", "adapter": str(adapter), "adapter_sha256": weights,  # retrained?
                    "base": s.base, "suite": str(suite),
                    "db": str(db), "task_ids": [t.id for t in tasks], "trials": s.trials, "max_turns": s.max_turns,
                    "user": s.user,
                    "seed": s.seed, "ppl_docs": s.ppl_docs, "ppl_window": s.ppl_window,
                    "ppl_max_tokens": s.ppl_max_tokens, "bench": [s.bench_prompt, s.bench_decode, s.bench_repeats]})
    prompt = training_prompt(adapter)
    # 2. Held-out text: the suite's test users, never seen in training.
    if not (out / "corpus.txt").is_file():
        write_corpus(db, out / "corpus.txt", "test", user_split=suite / "user_split.json", n=s.ppl_docs, seed=s.seed)
    # 3. The variants, each saved as it finishes; the report after each.
    results: dict[str, dict[str, Any]] = {}
    for i, quant in enumerate(quants, start=1):
        done = read_json(out / "variants" / quant / "result.json")
        if done is not None:
            console.print(f"[{i}/{len(quants)}] {quant}: done before, skipped (pass^1 {done['pass1']:.3f})")
            results[quant] = done
        else:
            console.rule(f"[{i}/{len(quants)}] {quant}")
            results[quant] = _variant(quant, adapter, suite, db, out, prompt, s, console)
        report = _report(results, s, adapter, suite, quants, prompt)
        write_compression_report(out, report, figure=i == len(quants))
    console.print(f"report -> {out}/compression.md, .json, .png", soft_wrap=True)
    return report


def _report(results: dict[str, dict[str, Any]], s: CompressionSettings, adapter: Path, suite: Path,
            quants: list[str], prompt: str | None) -> dict[str, Any]:
    """compression.json: the variants in ``quants`` order, each relative to F16 where F16 is done."""
    ref = results.get("F16")
    rows = []
    for quant in quants:
        r = results.get(quant)
        if r is None:
            continue
        row = {k: v for k, v in r.items() if k not in ("bench", "metrics")}
        row["metrics"] = r.get("metrics", {})
        if ref is not None:
            row["size_vs_f16"] = round(r["bytes"] / ref["bytes"], 4)
            row["perplexity_vs_f16"] = round(r["perplexity"] / ref["perplexity"], 4)
            row["vs_f16"] = None if quant == "F16" else paired(ref["run_dir"], r["run_dir"])
        rows.append(row)
    settings = {k: v for k, v in asdict(s).items() if k != "progress"}
    return {"experiment": "compression", "adapter": str(adapter), "suite": str(suite), "settings": settings,
            "prompt": prompt or "the retail spec's",
            "variants": rows,
            "pending": [q for q in quants if q not in results]}
