"""``agentspec experiment ...``: the survey's experiments as commands. Each docstring is the command's help.

Every command is resumable (rerun the same command with the same --out) and ends by printing where
its reports are. Heavy libraries are imported when a command runs.
"""
from __future__ import annotations

import click

__all__ = ["experiment_group"]

_THREADS = click.option("--threads", type=click.IntRange(min=1), default=None,
                        help="CPU threads of every model (llama.cpp, torch) [default: all cores].")
_TASKS = click.option("--tasks", type=click.IntRange(min=1), default=None,
                      help="Measure pass^1 on the first N held-out (test split) tasks [default: all].")
_TRIALS = click.option("--trials", default=1, show_default=True, type=click.IntRange(min=1), help="Trials per task.")
_MAX_TURNS = click.option("--max-turns", default=30, show_default=True, type=click.IntRange(min=1),
                          help="Agent turns before an episode counts as failed.")
_USER = click.option("--user", default="scripted", show_default=True, type=click.Choice(["scripted", "varied"]),
                     help="Simulated customer: `varied` rewords openings and answers (as `eval tau --user varied`).")


@click.group("experiment")
def experiment_group() -> None:
    """Experiments from the survey: compression and data ablation, with JSON, Markdown and PNG reports."""


@experiment_group.command("compression")
@click.option("--adapter-dir", type=click.Path(file_okay=False), help="The --out folder of `train lora` (or its adapter/).")
@click.option("--run", "run_dir", type=click.Path(file_okay=False),
              help="The --out folder of `train pipeline`: its lora/adapter and suite/ (instead of --adapter-dir/--suite).")
@click.option("--suite", type=click.Path(file_okay=False), help="Task suite folder of `eval generate` (tasks, splits).")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="tau2 retail db.json.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Experiment folder (resumable).")
@click.option("--base", default=None, help="Base GGUF of the adapter [default: the one `train lora` recorded].")
@click.option("--quants", default="F16,Q8_0,Q4_K_M,Q3_K_M", show_default=True,
              help="Types of the merged model to measure (F16, the reference, always is).")
@_TASKS
@_TRIALS
@_MAX_TURNS
@_USER
@_THREADS
@click.option("--ppl-docs", default=40, show_default=True, type=click.IntRange(min=1),
              help="Held-out users (documents) in the perplexity corpus.")
@click.option("--ppl-window", default=1024, show_default=True, type=click.IntRange(min=16), help="Perplexity window in tokens.")
@click.option("--bench-prompt", default=512, show_default=True, type=click.IntRange(min=8), help="Benchmark prompt tokens.")
@click.option("--bench-decode", default=64, show_default=True, type=click.IntRange(min=2), help="Benchmark decoded tokens.")
@click.option("--bench-repeats", default=3, show_default=True, type=click.IntRange(min=1), help="Benchmark repeats (median).")
@click.option("--seed", default=0, show_default=True, help="Seed of the episodes and of the corpus' users.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
def compression_command(adapter_dir, run_dir, suite, db, out, base, quants, tasks, trials, max_turns, user, threads, ppl_docs,
                        ppl_window, bench_prompt, bench_decode, bench_repeats, seed, progress) -> None:
    """The specialized model (base + LoRA, merged) at F16, Q8_0, Q4_K_M and 3-bit: size, tokens/s,
    held-out perplexity and pass^1 on the suite's held-out tasks.

    Writes OUT/compression.json and .md (after each variant) and .png. Interrupt at any time: rerun
    the same command to resume; finished variants are skipped.
    """
    from agentspec.experiments.compression import CompressionSettings, run_compression

    run_compression(CompressionSettings(
        out=out, db=db, adapter_dir=adapter_dir, suite=suite, run=run_dir, base=base,
        quants=tuple(q for q in quants.split(",") if q.strip()), tasks=tasks, trials=trials, max_turns=max_turns, user=user,
        seed=seed, threads=threads, ppl_docs=ppl_docs, ppl_window=ppl_window, bench_prompt=bench_prompt,
        bench_decode=bench_decode, bench_repeats=bench_repeats, progress=progress))


@experiment_group.command("data-ablation")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="tau2 retail db.json.")
@click.option("--suite", required=True, type=click.Path(file_okay=False),
              help="Task suite folder of `eval generate`: its user split keeps held-out users out of the data.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Experiment folder (resumable).")
@click.option("--dialogues", default=400, show_default=True, type=click.IntRange(min=1), help="Synthetic dialogues per arm.")
@click.option("--noise", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of dialogues with one plausible teacher mistake (the same in both arms).")
@click.option("--steps", default=100, show_default=True, type=click.IntRange(min=1),
              help="LoRA optimizer steps, the same in both arms.")
@click.option("--base", default="smollm2-135m", show_default=True, help="Base model of the LoRA.")
@click.option("--prompt", default=None, help="System prompt template of data and agent (e.g. retail_compact.j2).")
@_TASKS
@_TRIALS
@_MAX_TURNS
@_USER
@_THREADS
@click.option("--data-workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes of data generation.")
@click.option("--baseline", is_flag=True, help="Also measure the agent without any adapter.")
@click.option("--seed", default=0, show_default=True, help="Seed of data, training and episodes.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
def ablation_command(db, suite, out, dialogues, noise, steps, base, prompt, tasks, trials, max_turns, user, threads,
                     data_workers, baseline, seed, progress) -> None:
    """The same LoRA training on data with and without the verification filters, compared by pass^1
    on the suite's held-out tasks (and held-out loss, kept and rejected counts).

    Arm `verified`: `train data` (filters on); arm `unverified`: `train data --no-verify`; same seed
    and noise, then the same `train lora` and `train export` for both. Writes OUT/ablation.json, .md
    and .png. Interrupt at any time: rerun the same command to resume.
    """
    from agentspec.experiments.ablation import AblationSettings, run_ablation

    run_ablation(AblationSettings(
        out=out, db=db, suite=suite, dialogues=dialogues, noise=noise, steps=steps, base=base, prompt=prompt,
        tasks=tasks, trials=trials, max_turns=max_turns, user=user, threads=threads, data_workers=data_workers,
        baseline=baseline, seed=seed, progress=progress))


@experiment_group.command("rag-vs-finetune")
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="The tau2 retail data folder (policy.md, db.json): documents and questions.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Experiment folder (resumable).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Answer the first N held-out questions (interleaved by kind) [default: all].")
@_THREADS
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="recall@k of the index.")
@click.option("--k-answer", default=3, show_default=True, type=click.IntRange(min=1),
              help="Retrieved passages put in the prompt.")
@click.option("--base-spec", default="retail-base", show_default=True, help="Spec of the base model (no adapter).")
@click.option("--expert-spec", default="retail", show_default=True, help="Spec of the expert (its LoRA adapters).")
@click.option("--seed", default=0, show_default=True, help="Seed of the question set and its split.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
def rag_command(data, out, limit, threads, k, k_answer, base_spec, expert_spec, seed, progress) -> None:
    """Retrieval vs fine-tuning: the same held-out policy, catalogue and FAQ questions answered by the
    base model without and with retrieval, and by the LoRA expert without and with it.

    Accuracy with Wilson 95% intervals (overall and per kind), recall@k of the index, seconds per
    question, paired differences. Writes OUT/rag.json, .md and .png. Interrupt at any time: rerun the
    same command to resume (answers are kept per arm and question; a larger --limit adds questions).
    """
    from agentspec.experiments.rag import RagSettings, run_rag

    run_rag(RagSettings(data=data, out=out, limit=limit, threads=threads, k=k, k_answer=k_answer, seed=seed,
                        base_spec=base_spec, expert_spec=expert_spec, progress=progress))
