"""``agentspec train ...``: the offline specialization commands. Each docstring is the command's help.

Heavy libraries (torch, peft, transformers) are imported inside the commands, so ``agentspec --help``
stays fast and the chat path never loads them.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from agentspec.train.pipeline import PipelineSettings  # light (no torch): its defaults are the options' defaults

__all__ = ["train_group"]


@click.group("train")
def train_group() -> None:
    """Build domain experts: data, LoRA training, GGUF export, routing, SVD profiles."""


# -- verified synthetic data (data.py) -------------------------------------------------------------


@train_group.command("data")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="tau2 retail db.json.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (resumable).")
@click.option("--n", "n", required=True, type=click.IntRange(min=1), help="Number of dialogues to generate.")
@click.option("--seed", default=0, show_default=True, help="The same seed gives the same dialogues.")
@click.option("--split-file", type=click.Path(dir_okay=False),
              help="user_split.json of the eval suite (default: the split `agentspec eval generate` makes "
              "with its defaults, seed 0 and 30% eval users).")
@click.option("--spec", default="retail", show_default=True,
              help="Agent spec whose graph, prompts and policy the data is made with (= the one it will run in).")
@click.option("--prompt", default=None, help="Override the spec's system prompt template (e.g. retail_compact.j2).")
@click.option("--noise", "noise_rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of dialogues where the teacher makes one plausible mistake (for the data ablation).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Drop dialogues the filters reject (--no-verify keeps them, marked, for the ablation).")
@click.option("--valid-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of dialogues whose examples go to valid.jsonl.")
@click.option("--tokenizer", type=click.Choice(["spec", "words"]), default="spec", show_default=True,
              help="Count prompt budgets with the spec model's tokenizer (as at inference) or in words.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def data_command(db, out, n, seed, split_file, spec, prompt, noise_rate, verify, valid_fraction, tokenizer, workers,
                 progress) -> None:
    """Generate verified synthetic retail dialogues in the agent's exact step format.

    Runs the real agent graph with a rule-based teacher as the model and the scripted (mutated) user;
    every model call becomes a training example. Writes train.jsonl, valid.jsonl, rejected.jsonl,
    dialogues.jsonl and card.md/card.json to OUT. Interrupt at any time: rerun to resume.
    """
    from agentspec.train.data import DataSettings, generate_data

    result = generate_data(DataSettings(
        db=db, out=out, n=n, seed=seed, split_file=split_file, spec=spec, prompt=prompt, noise_rate=noise_rate,
        verify=verify, valid_fraction=valid_fraction, tokenizer=tokenizer, workers=workers, progress=progress))
    rejections = ", ".join(f"{k} {v}" for k, v in result.card["rejections"].items()) or "none"
    Console().print(f"{result.dialogues} dialogues: {result.kept} kept, {result.rejected} rejected ({rejections}); "
                    f"{result.train_examples} train / {result.valid_examples} valid examples -> {out}/card.md")


@train_group.command("reader-data")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="tau2 retail db.json.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--n", "n", required=True, type=click.IntRange(min=1), help="Number of messages to generate.")
@click.option("--seed", default=0, show_default=True, help="The same seed gives the same messages.")
@click.option("--family", "families", multiple=True,
              help="Wording family name or YAML path (repeatable; default: every training family).")
def reader_data_command(db, out, n, seed, families) -> None:
    """Generate labelled customer messages for the learned reader from wording families.

    Writes reader.jsonl (text, request classes, yes/no answer, value spans, cancel reason) and
    reader_meta.json (counts) to OUT. Held-out families are refused.
    """
    from agentspec.train.reader_data import write_reader_data

    meta = write_reader_data(db, out, n, seed=seed, families=list(families) or None)
    Console().print(f"{meta['n']} messages from {', '.join(meta['families'])} in {meta['seconds']} s; "
                    f"requests {json.dumps(meta['requests'])}; answers {json.dumps(meta['answers'])} "
                    f"-> {Path(out) / 'reader.jsonl'}")


@train_group.command("fc-data")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (train.jsonl, valid.jsonl).")
@click.option("--pool", default="train", show_default=True, help="Function pool: a packaged name or a YAML file.")
@click.option("--n", "n", required=True, type=click.IntRange(min=1), help="Examples per category.")
@click.option("--categories", default="simple,multiple,parallel,parallel_multiple,irrelevance", show_default=True,
              help="Comma-separated categories the data covers (parallel calls, abstention on irrelevance, ...).")
@click.option("--seed", default=1, show_default=True, help="The same seed gives the same examples.")
@click.option("--valid-fraction", default=0.05, show_default=True, type=click.FloatRange(0, 0.5),
              help="Share of examples kept for the held-out loss (valid.jsonl).")
def fc_data_command(out, pool, n, categories, seed, valid_fraction) -> None:
    """Step-format function-calling examples for `train lora` from a function pool (evals/fc_suite.py).

    Each example is the system prompt and request the BFCL runner builds with `--steps free`, and the
    canonical step it should answer: the calls (several for parallel requests), or a reply that declines
    when no offered function fits. Held-out pools are refused.
    """
    from agentspec.evals.fc_suite import FcPoolError, load_pool, parse_categories, training_examples

    chosen = parse_categories(categories)
    loaded = load_pool(pool)
    if loaded.heldout:
        raise FcPoolError(f"pool {loaded.name!r} is held out: it measures, it is never trained on",
                          hint="train on --pool train (or a pool file of your own)")
    examples = training_examples(loaded, chosen, n, seed)
    n_valid = int(len(examples) * valid_fraction)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("valid.jsonl", examples[:n_valid]), ("train.jsonl", examples[n_valid:])):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    meta = {"pool": loaded.name, "categories": list(chosen), "per_category": n, "seed": seed,
            "train": len(examples) - n_valid, "valid": n_valid}
    (folder / "fc_data.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    Console().print(f"{meta['train']} train / {meta['valid']} valid examples ({', '.join(chosen)}) -> {folder}")


# -- LoRA experts (lora.py, export.py, router.py, svd.py) ------------------------------------------


@train_group.command("lora")
@click.option("--base", default="smollm2-135m", show_default=True, help="Bundled model name or path to the base GGUF.")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False), help="Folder with train.jsonl (and valid.jsonl).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (adapter/, checkpoint, reports).")
@click.option("--expert", default=None, help="Train on one intent family only: NAME or NAME=glob|glob over `intent`.")
@click.option("--rank", default=8, show_default=True, help="LoRA rank r.")
@click.option("--alpha", default=16.0, show_default=True, help="LoRA alpha (scale = alpha / r).")
@click.option("--targets", default="q_proj,k_proj,v_proj,o_proj", show_default=True, help="Modules to adapt.")
@click.option("--layers", default=None, type=click.IntRange(min=1),
              help="Adapt only the top N decoder layers (faster: the backward pass stops there).")
@click.option("--epochs", default=1.0, show_default=True, help="Passes over the training sequences.")
@click.option("--steps", default=None, type=int, help="Optimizer steps (overrides --epochs).")
@click.option("--lr", default=2e-4, show_default=True, help="Peak learning rate (warm-up, then cosine to 10%).")
@click.option("--batch", default=4, show_default=True, help="Sequences per step.")
@click.option("--max-len", default=8192, show_default=True, help="Longest sequence in tokens; longer turns are skipped and counted.")
@click.option("--micro-tokens", default=8192, show_default=True, help="Padded tokens per forward pass (memory bound, ~0.85 MB each for SmolLM2).")
@click.option("--budget-minutes", default=40.0, show_default=True,
              help="Epoch-based runs train fewer steps if the pace of the first steps would overrun this (0: no limit).")
@click.option("--no-pack", is_flag=True, help="One sequence per turn (no packing of a dialogue's turns).")
@click.option("--eval-sequences", default=16, show_default=True, type=click.IntRange(min=0),
              help="Held-out loss on this many validation sequences (0: all).")
@click.option("--eval-every", default=100, show_default=True, help="Held-out loss every N steps (and at the end).")
@click.option("--checkpoint-every", default=25, show_default=True, help="Write the resumable checkpoint every N steps.")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if available), cpu or cuda.")
@click.option("--autocast", type=click.Choice(["auto", "bf16", "off"]), default="auto", show_default=True,
              help="bf16 autocast; auto = on CUDA only (slower on this CPU, see benchmarks/training.py).")
@click.option("--threads", default=None, type=int, help="torch CPU threads.")
@click.option("--resume/--restart", default=True, show_default=True,
              help="Continue from OUT/checkpoint.pt when there is one, or start over.")
def lora_command(base, data, out, expert, rank, alpha, targets, layers, epochs, steps, lr, batch, max_len, micro_tokens, budget_minutes, no_pack,
                 eval_sequences, eval_every, checkpoint_every, seed, device, autocast, threads, resume) -> None:
    """Train a LoRA expert on step-format dialogues (loss on the assistant's tokens only).

    Interrupt at any time: Ctrl-C saves a checkpoint, and running the same command again resumes.
    """
    from agentspec.train.lora import LoraSettings, train_lora

    settings = LoraSettings(
        data=data, out=out, base=base, expert=expert, rank=rank, alpha=alpha,
        targets=tuple(t.strip() for t in targets.split(",") if t.strip()), layers=layers, epochs=epochs, steps=steps, lr=lr,
        batch=batch, max_len=max_len, micro_tokens=micro_tokens, budget_minutes=budget_minutes or None, pack=not no_pack, eval_every=eval_every, eval_sequences=eval_sequences or None, checkpoint_every=checkpoint_every,
        seed=seed, device=device, autocast=autocast, threads=threads, restart=not resume,
    )
    summary = train_lora(settings)
    Console().print(
        f"steps {summary['steps']}, train loss {summary['train_loss_last']}, held-out loss {summary['valid_loss']}, "
        f"{summary['target_tokens_per_s']} target tok/s, {summary['seconds']} s -> {Path(out) / 'adapter'}"
    )


@train_group.command("export")
@click.argument("adapter_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--base", default=None, help="Base GGUF (default: the one recorded by `train lora`).")
@click.option("--merged", is_flag=True, help="Also write the merged model (F16 GGUF, then each --quant).")
@click.option("--quant", default="Q8_0,Q4_K_M,Q3_K_M", show_default=True, help="Types for the merged model.")
def export_command(adapter_dir, out, base, merged, quant) -> None:
    """Export a trained adapter as a GGUF LoRA adapter for llama.cpp (and optionally merged + quantized)."""
    from agentspec.runtime.models import resolve_model
    from agentspec.train.export import export_adapter, export_merged

    base_path = str(resolve_model(base)[0]) if base else None
    console = Console()
    console.print(f"adapter -> {export_adapter(Path(adapter_dir), Path(out), base=base_path)}")
    if merged:
        quants = [q.strip() for q in quant.split(",") if q.strip()]
        with console.status("merging and quantizing ..."):
            written = export_merged(Path(adapter_dir), Path(out), quants, base=base_path)
        for q, p in written.items():
            console.print(f"merged {q} -> {p} ({p.stat().st_size / 2**20:.1f} MB)")


@train_group.command("router")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False), help="Folder with train.jsonl and valid.jsonl.")
@click.option("--experts", required=True, help='Comma-separated NAME or NAME=glob|glob over `intent`, e.g. "returns=return*|exchange*,orders=*".')
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (router.json, report, PNG).")
@click.option("--collapse-at", default=0.9, show_default=True, help="Alarm when one expert takes more than this share of turns.")
def router_command(data, experts, out, collapse_at) -> None:
    """Train the router that picks the LoRA expert for each turn; report held-out accuracy and utilisation."""
    from agentspec.train.router import train_router

    report = train_router(Path(data), [e for e in experts.split(",") if e.strip()], Path(out), collapse_at=collapse_at)
    console = Console()
    console.print(f"held-out accuracy {report['accuracy']:.3f} (majority class {report['chance']:.3f}) on "
                  f"{report['eval_turns']} turns; utilisation {json.dumps(report['utilisation'])}")
    if report["collapse"]:
        console.print(f"[bold red]Routing collapse:[/] one expert takes more than {collapse_at:.0%} of the turns.")


@train_group.command("reader")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False), help="Folder with reader.jsonl (`train reader-data`).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder (reader.json, reader.npz, report, PNG).")
@click.option("--eval-data", "eval_data", multiple=True, type=click.Path(file_okay=False),
              help="Folder of reader.jsonl in wording never trained on (repeatable): reported separately.")
@click.option("--eval-family", "eval_families", multiple=True,
              help="Wording family (name or YAML) to evaluate on, held-out ones included; needs --db (repeatable).")
@click.option("--db", default=None, type=click.Path(dir_okay=False), help="tau2 db.json for --eval-family messages.")
@click.option("--epochs", default=40, show_default=True, type=click.IntRange(min=1), help="Epochs of the sentence heads.")
@click.option("--chars", default=1024, show_default=True, type=click.IntRange(min=0),
              help="Hashed character n-gram features the sentence heads also read (0: MiniLM features only).")
@click.option("--seed", default=0, show_default=True)
def reader_command(data, out, eval_data, eval_families, db, epochs, chars, seed) -> None:
    """Fit the learned reader (requests, yes/no answer, slots, choices) on MiniLM features; report on unseen wording."""
    from agentspec.train.reader import ReaderSettings, train_reader

    report = train_reader(ReaderSettings(data=data, out=out, eval_data=list(eval_data), eval_families=list(eval_families),
                                         db=db, epochs=epochs, chars=chars, seed=seed))
    console = Console()
    for name, ev in report["evaluations"].items():
        f1 = [t["f1"] for t in ev["tags"].values()]
        console.print(f"{name}: {ev['examples']} messages; requests exact {ev['requests_exact']:.3f}; answers "
                      f"{ev['answer_accuracy']:.3f} (false yes {ev['false_yes']}); choices {ev['choice_accuracy']:.3f}; "
                      f"tags mean F1 {sum(f1) / max(len(f1), 1):.3f}")
    console.print(f"-> {Path(out) / 'reader.json'}, {Path(out) / 'reader_report.json'}, {Path(out) / 'reader_report.png'}")


@train_group.command("reader-merge")
@click.option("--base", "base", required=True, type=click.Path(file_okay=False), help="Reader whose heads are kept.")
@click.option("--take-from", "donor", required=True, type=click.Path(file_okay=False),
              help="Reader (same encoder) to take --head from.")
@click.option("--head", "heads", multiple=True, required=True, help="Head to take (repeatable): answer, requests, tags, choice.NAME.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output reader folder.")
def reader_merge_command(base, donor, heads, out) -> None:
    """Combine two readers' heads: BASE with each --head taken from --take-from (the heads share the encoder)."""
    from agentspec.train.reader_merge import merge_readers

    meta = merge_readers(base, donor, list(heads), out)
    for name, head in meta["heads"].items():
        families = ", ".join((head.get("trained_on") or {}).get("families", [])) or "?"
        Console().print(f"{name}: trained on {families}")
    Console().print(f"-> {Path(out) / 'reader.json'}")


@train_group.command("reader-answer")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False), help="Folder of `train reader-data`.")
@click.option("--base", "base", required=True, type=click.Path(file_okay=False), help="Reader the tuned answer is added to.")
@click.option("--replies", "replies", multiple=True, type=click.Path(dir_okay=False),
              help="Labelled reply file (YAML: clear_yes / not_yes, kind -> texts); repeatable.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output reader folder.")
@click.option("--layers", default=2, show_default=True, type=click.IntRange(1, 6), help="Top encoder layers to tune.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--reply-weight", default=1, show_default=True, type=click.IntRange(min=1),
              help="Times each reply file's text counts (they are few against the reader data's rows).")
@click.option("--seed", default=0, show_default=True, type=int)
def reader_answer_command(data, base, replies, out, layers, epochs, reply_weight, seed) -> None:
    """Fine-tune the encoder's top layers and an answer head to read replies to a stated write (resumable).

    Each run adds one member to --base's tuned answers: a yes must be read by every member."""
    from agentspec.train.answer_tuning import AnswerTuning, tune_answer

    report = tune_answer(AnswerTuning(data=data, base=base, out=out, replies=list(replies), layers=layers,
                                      epochs=epochs, reply_weight=reply_weight, seed=seed))
    trained = report["trained_on"]
    Console().print(f"{report['member']}: tuned {layers} layers on {trained['examples']} texts {trained['answers']} "
                    f"in {report['seconds']:.0f} s -> {Path(out) / 'reader.json'}")


@train_group.command("reader-requests")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False), help="Folder of `train reader-data`.")
@click.option("--base", "base", required=True, type=click.Path(file_okay=False), help="Reader whose requests head is replaced.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output reader folder.")
@click.option("--layers", default=2, show_default=True, type=click.IntRange(1, 6), help="Top encoder layers to tune.")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--examples", default=0, show_default=True, type=click.IntRange(min=0),
              help="Rows of the data drawn at random (0: every row).")
@click.option("--seed", default=0, show_default=True, type=int)
def reader_requests_command(data, base, out, layers, epochs, examples, seed) -> None:
    """Fine-tune the encoder's top layers and a requests head to read what a message asks for (resumable)."""
    from agentspec.train.requests_tuning import RequestsTuning, tune_requests

    report = tune_requests(RequestsTuning(data=data, base=base, out=out, layers=layers, epochs=epochs,
                                          examples=examples, seed=seed))
    trained = report["trained_on"]
    Console().print(f"requests: tuned {layers} layers on {trained['examples']} texts {trained['requests']} "
                    f"in {report['seconds']:.0f} s -> {Path(out) / 'reader.json'}")


@train_group.command("reader-eval")
@click.option("--reader", "reader_dir", default=None, type=click.Path(file_okay=False),
              help="Reader folder (default: the packaged retail spec's).")
@click.option("--family", required=True, help="Wording family (name or YAML) the reader was never trained on.")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="tau2 retail db.json.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--n", "n", default=4000, show_default=True, type=click.IntRange(min=10), help="Messages to make.")
def reader_eval_command(reader_dir, family, db, out, n) -> None:
    """Measure a trained reader on a wording family (held-out ones included): requests, yes/no, slots, choices."""
    from agentspec.spec import load_spec
    from agentspec.train.reader import ReaderSettings, evaluate_on_family

    spec = load_spec("retail")
    understanding = spec.understanding
    folder = Path(reader_dir) if reader_dir else spec.resolve_path(understanding.reader)
    settings = ReaderSettings(data=out, out=out, request_threshold=understanding.request_threshold,
                              yes_threshold=understanding.yes_threshold, no_threshold=understanding.no_threshold)
    report = evaluate_on_family(folder, family, db, out, n=n, settings=settings)
    console = Console()
    for name, ev in report["evaluations"].items():
        f1 = [t["f1"] for t in ev["tags"].values()]
        console.print(f"{family}, {name}: {ev['examples']} messages; requests exact {ev['requests_exact']:.3f}; "
                      f"answers {ev['answer_accuracy']:.3f} (false yes {ev['false_yes']}, yes missed "
                      f"{ev['yes_missed']}); choices {ev['choice_accuracy']:.3f}; tags mean F1 "
                      f"{sum(f1) / max(len(f1), 1):.3f}")
    console.print(f"-> {Path(out) / 'reader_eval.json'}, {Path(out) / 'reader_eval.png'}")


@train_group.command("svd")
@click.argument("target", type=click.Path(exists=True))
@click.option("--out", "out", default=None, type=click.Path(file_okay=False), help="Output folder (default: TARGET's folder / svd).")
@click.option("--base", default=None, help="Base GGUF of an adapter, to suggest a quantization level for the merged model.")
@click.option("--embeddings", is_flag=True, help="Include the token embedding matrix (large, slow).")
def svd_command(target, out, base, embeddings) -> None:
    """Singular-value spectra and effective rank per layer of an adapter or a model; suggests rank and quantization."""
    from agentspec.runtime.models import resolve_model
    from agentspec.train.svd import profile

    path = Path(target)
    out_dir = Path(out) if out else (path if path.is_dir() else path.parent) / "svd"
    summary = profile(path, out_dir, base=str(resolve_model(base)[0]) if base else None, embeddings=embeddings)
    console = Console()
    console.print(f"{summary['matrices']} matrices, mean entropy rank {summary['erank_mean']}, mean r90 {summary['r90_mean']}")
    if "suggested_rank" in summary:
        console.print(f"suggested LoRA rank: {summary['suggested_rank']['rank']} ({summary['suggested_rank']['why']})")
    console.print(f"suggested quantization: {summary['suggested_quant']['type']} ({summary['suggested_quant']['why']})")
    console.print(f"-> {out_dir / 'svd.json'}, {out_dir / 'spectra.png'}, {out_dir / 'effective_rank.png'}")


@train_group.command("pipeline")
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False), help="tau2 retail db.json.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Working folder (resumable).")
@click.option("--tasks", default=PipelineSettings.tasks, show_default=True,
              help="Suite size (its test split is the held-out measure).")
@click.option("--dialogues", default=PipelineSettings.dialogues, show_default=True,
              help="Synthetic dialogues to generate.")
@click.option("--steps", default=PipelineSettings.steps, show_default=True, type=int,
              help="Optimizer steps of 2 training sequences (0: one epoch within --budget-minutes).")
@click.option("--budget-minutes", default=PipelineSettings.budget_minutes, show_default=True,
              help="Training time budget (epoch-based runs).")
@click.option("--threads", default=None, type=int, help="torch CPU threads.")
@click.option("--install", is_flag=True, help="Copy the adapter to where the packaged `retail` spec looks for it.")
def pipeline_command(db, out, tasks, dialogues, steps, budget_minutes, threads, install) -> None:
    """Suite + user split, verified data, LoRA, GGUF export (and install): the shipped adapter, reproduced."""
    from agentspec.train.pipeline import run_pipeline

    summary = run_pipeline(PipelineSettings(db=db, out=out, tasks=tasks, dialogues=dialogues, steps=steps or None,
                                            budget_minutes=budget_minutes, threads=threads, install=install))
    Console().print_json(json.dumps({k: v for k, v in summary.items() if k != "settings"}))
