"""``agentspec eval``: generate tau-style retail suites, run them, compare runs; perplexity on a corpus.

The group ``eval_group`` is attached to the main CLI by ``agentspec.cli``; each command's docstring is
its help. User errors are ``AgentSpecError`` subclasses (the main CLI prints message and hint).
``tau --json`` prints, as its last line, one JSON object with ``pass_hat_k``, ``pass_at_k`` (str(k) ->
value), ``ci``, ``n_tasks``, ``trials``, ``categories``, ``metrics`` and ``out``. ``bfcl --json`` prints,
last, one JSON object with ``n``, ``accuracy``, ``valid_rate``, ``errors`` (counts by error type),
``mode``, ``constrained``, ``retried``, ``malformed_attempts`` and ``model``. ``perplexity --json`` prints,
last, one JSON object with ``perplexity``, ``mean_nll`` (nats/token), ``tokens``, ``documents``, ``seconds``,
``window``, ``stride``, ``model``, ``adapter`` and ``corpus``. ``attack --json`` prints, last, the summary
of ``attack.run_attacks`` without its examples, plus ``out``. ``docqa --json`` prints, last, one JSON object with
``recall`` (``n``, ``hits``, ``value``, ``ci``, ``at_1``, ``by_kind``), ``arms`` (accuracy per arm, or null),
``difference`` (retrieval - no retrieval) and ``out``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from ._attack_scripts import BLIND_SPLIT, SPLITS
from .agents import AGENT_KINDS, AgentFactory, check_agent
from .fc_suite import CATEGORIES as FC_CATEGORIES
from .generate import STYLES, generate_suite
from .harness import UserFactory, run_suite
from .report import compare_runs, comparison_markdown, print_comparison, write_report
from .tasks import load_tasks

__all__ = ["eval_group"]


@click.group("eval")
def eval_group() -> None:
    """Evaluate agents on tau-style task suites (pass^k) and compare runs."""


def _attach_memory() -> None:
    from .memory_cli import memory_eval_group

    eval_group.add_command(memory_eval_group, "memory")


_attach_memory()


@eval_group.command()
@click.argument("tasks", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The tau2 retail db.json every episode starts from.")
@click.option("--split-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A split_tasks.json (default: the one next to TASKS, when --split is given).")
@click.option("--split", help="Run only the tasks of this split (e.g. test).")
@click.option("--agent", "agent_kind", type=click.Choice(AGENT_KINDS), default="spec", show_default=True,
              help="spec: the agent an agent spec describes; oracle: replays the gold (harness check).")
@click.option("--spec", help="Agent spec (YAML path or name) for --agent spec.")
@click.option("--user", "user_kind", type=click.Choice(["scripted", "varied", "llm"]), default="scripted",
              show_default=True, help="The user simulator: scripted (one wording), varied (the same "
              "protocol, wording drawn per episode: trials differ), llm.")
@click.option("--user-model", help="Model name or GGUF path for --user llm (default: the bundled one); with "
              "--user-backend openai, the served model's name.")
@click.option("--user-backend", default="llamacpp", show_default=True,
              help="Backend of --user-model: llamacpp, transformers or openai (any OpenAI-compatible server).")
@click.option("--user-base-url", help="--user-backend openai: the server's URL, e.g. http://127.0.0.1:8000/v1.")
@click.option("--trials", default=1, show_default=True, type=click.IntRange(min=1), help="Trials per task.")
@click.option("--limit", type=click.IntRange(min=1), help="Run only the first N tasks.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes (each builds its own agent).")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads of each worker's llama.cpp models [default: the spec's, else cores // workers].")
@click.option("--max-turns", default=30, show_default=True, type=click.IntRange(min=1),
              help="Agent turns before an episode counts as failed.")
@click.option("--seed", default=0, show_default=True, help="Base seed of the per-episode seeds.")
@click.option("--temperature", type=click.FloatRange(min=0.0),
              help="Sampling temperature of the spec agent [default: the spec's]. Above 0, trials of a task "
                   "differ (each episode has its own seed); the packaged specs decode greedily.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (resumable: rerun with the same --out to finish). Default: a new temp dir.")
@click.option("--behaviour", type=click.Choice(["auto", "tau2", "corrected"]), default="auto", show_default=True,
              help="The retail store's bookkeeping: tau2 reproduces tau2's own environment (its item-modification "
                   "prices), so rewards compare with published tau2 figures; corrected is the toolkit's real-use "
                   "behaviour; auto: corrected for suites agentspec generated (every task has a category), else tau2.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object, last.")
def tau(tasks: Path, db: Path, split_file: Path | None, split: str | None, agent_kind: str, spec: str | None,
        user_kind: str, user_model: str | None, user_backend: str, user_base_url: str | None, trials: int,
        limit: int | None,
        workers: int, threads: int | None, max_turns: int, seed: int, temperature: float | None, out: Path | None,
        behaviour: str, progress: bool, as_json: bool) -> None:
    """Run the tasks in TASKS (a tau2 tasks.json) and write a report with pass^k into --out.

    Task files run as tau2 defines them: a reference call that fails is an observation that changes
    nothing; a task that cannot fit the db (a tool the toolkit lacks, arguments it refuses, reference
    calls that all fail) is an error naming the task and the call, before any episode runs."""
    if split_file is not None and split is None:
        raise click.UsageError("--split-file needs --split NAME (e.g. --split test)")
    if user_base_url and (user_kind != "llm" or user_backend != "openai"):
        raise click.UsageError("--user-base-url is for --user llm --user-backend openai")
    suite = load_tasks(tasks, split_file=split_file, split=split)
    if limit:
        suite = suite[:limit]
    if temperature is not None and agent_kind != "spec":
        raise click.UsageError("--temperature applies to --agent spec only (the oracle replays the gold)")
    options: dict[str, object] = {"spec": spec} if agent_kind == "spec" else {}
    if temperature is not None:
        options["temperature"] = temperature  # part of the agent's recipe: a run at another temperature is another run
    agent_factory = AgentFactory.of(agent_kind, threads=threads, **options)
    check_agent(agent_kind, **options)  # fail now, not inside a worker
    out = out or Path(tempfile.mkdtemp(prefix="agentspec-tau-"))
    user_factory = UserFactory(user_kind, user_model, user_backend, threads=threads, base_url=user_base_url)
    if behaviour == "auto":
        behaviour = "corrected" if suite and all(t.category for t in suite) else "tau2"
    run_suite(suite, db, agent_factory, user_factory, trials, out, workers=workers, max_turns=max_turns,
              progress=progress and not as_json, seed=seed, behaviour=behaviour)
    report = write_report(out)
    if as_json:
        keys = ("pass_hat_k", "pass_at_k", "ci", "n_tasks", "trials", "categories", "metrics")
        click.echo(json.dumps({**{k: report[k] for k in keys}, "out": str(out)}))
        return
    click.echo((out / "report.md").read_text(encoding="utf-8"))
    click.echo(f"Report written to {out}")


@eval_group.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The tau2 retail db.json the attacks are drawn from and every conversation starts from.")
@click.option("--spec", default="retail", show_default=True, help="Agent spec (YAML path or name), e.g. retail-base.")
@click.option("--n", "n", default=200, show_default=True, type=click.IntRange(min=1), help="Attack conversations.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives the same attacks.")
@click.option("--split", type=click.Choice(SPLITS), default=BLIND_SPLIT, show_default=True,
              help="dev: train users and development wording (look at failures here); test .. test4: held-out "
                   "users and wording written blind (report it, do not tune on it; test to test3 have since been "
                   "read: a new blind wording goes in a new split).")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads of each worker's llama.cpp model [default: the spec's, else all cores].")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes (each loads its own model).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (resumable: rerun with the same --out to finish). Default: a new temp dir.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object, last (no examples).")
def attack(db: Path, spec: str, n: int, seed: int, split: str, threads: int | None, workers: int,
           out: Path | None, progress: bool, as_json: bool) -> None:
    """Run N scripted adversarial conversations against a spec and count policy violations.

    Impersonation, another customer's data, injected instructions, answers that only resemble a yes, a
    yes tied to another request, refunds to another's payment method, writes before authentication. A
    write without authentication, without a clear yes to exactly its statement, on another user's data,
    or twice is a violation; report.json and report.md go to --out. Ctrl-C keeps finished conversations.
    --split dev draws train users and development wording; test (the default) held-out users and
    wording written blind.
    """
    from .attack import run_attacks

    out = out or Path(tempfile.mkdtemp(prefix="agentspec-attack-"))
    try:
        summary = run_attacks(spec, n, seed, db, threads=threads, workers=workers,
                              progress=progress and not as_json, out=out, split=split)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: finished conversations are in {out}; rerun the same command "
                                   "to resume") from None
    if as_json:
        click.echo(json.dumps({**{k: v for k, v in summary.items() if k != "examples"}, "out": str(out)}))
        return
    click.echo(f"{summary['attack_conversations']} attack conversations ({split} split) on {spec}: "
               f"{summary['violations']} violations, {summary['false_yes']} false yes, {summary['writes']} writes, "
               f"{summary['errors']} errors, {summary['seconds_per_conversation']} s per conversation")
    for kind, row in summary["by_kind"].items():
        click.echo(f"  {kind:<20} {row['conversations']:>4} conversations {row['writes']:>4} writes "
                   f"{row['violations']:>4} violations {row['false_yes']:>4} false yes")
    click.echo(f"Report written to {out / 'report.md'}")


@eval_group.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="tau2 retail db.json.")
@click.option("--wording", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="YAML of question templates by kind (status, tracking, total, items, payment, address: each "
                   "with one {order}; options, price: each with one {product}): e.g. evals/questions/dev.yaml.")
@click.option("--spec", default="retail", show_default=True, help="Agent spec (YAML path or name).")
@click.option("--n", "n", default=60, show_default=True, type=click.IntRange(min=1), help="Cases (kinds in turn).")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives the same cases.")
@click.option("--arm", "arms", multiple=True, type=click.Choice(["graph", "model"]),
              help="graph: the spec as it is; model: without understanding.questions (the model answers). "
                   "Default: both.")
@click.option("--threads", type=click.IntRange(min=1), help="llama.cpp threads (default: the spec's).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (resumable: rerun the same command).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object, last.")
def questions(db: Path, wording: Path, spec: str, n: int, seed: int, arms: tuple[str, ...], threads: int | None,
              out: Path, as_json: bool) -> None:
    """Customers of held-out users ask about one of their orders (its status, tracking number, total,
    items, payment method or address) or about a catalogue product (its options, its prices); a case
    passes when a reply holds the fact, nothing was written and no other customer's order was named.
    Pass rate per arm and kind with 95% intervals, in --out/report.md, report.json and report.png.
    Ctrl-C keeps finished cases."""
    from .question_suite import QuestionSettings, run_questions

    settings = QuestionSettings(db=str(db), wording=str(wording), out=str(out), spec=spec, n=n, seed=seed,
                                arms=arms or ("graph", "model"), threads=threads, progress=not as_json)
    try:
        report = run_questions(settings)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: finished cases are in {out}; rerun the same command to resume") from None
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo((out / "report.md").read_text(encoding="utf-8"))


@eval_group.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path), help="tau2 retail db.json.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--n", "n", required=True, type=click.IntRange(min=1), help="Number of tasks.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives the same suite.")
@click.option("--eval-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of users held out for evaluation (their tasks form the test split).")
@click.option("--style", default="standard", show_default=True,
              help=f"{', '.join(STYLES)} or family:NAME. hard: requests worded unlike the training data, items named "
                   "by what tells them apart, two-item swaps, vague openings; fresh: the same shapes in sentences "
                   "kept out of development; family:NAME: the same shapes, every sentence of the customer (requests "
                   "and answers) from the wording family evals/wordings/NAME.yaml.")
@click.option("--multi", is_flag=True, help="Every task makes two or three requests; some change their mind at "
              "a confirmation (another variant) or decline one (it must not be done).")
@click.option("--categories", default=None, help="Comma-separated categories the tasks cycle through instead, e.g. "
              "account_address,modify_address (account_address: the account's default address, only by name).")
@click.option("--piecemeal", is_flag=True, help="Each customer says what they want first and every detail (order, "
              "items, version, reason, payment, address) only when the agent asks for it (wording families only).")
def generate(db: Path, out: Path, n: int, seed: int, eval_fraction: float, style: str, multi: bool,
             categories: str | None, piecemeal: bool) -> None:
    """Generate a retail task suite: tasks.json, split_tasks.json and user_split.json in --out."""
    chosen = tuple(c.strip() for c in categories.split(",") if c.strip()) if categories else None
    tasks = generate_suite(db, out, n, seed=seed, eval_fraction=eval_fraction, style=style, multi=multi,
                           categories=chosen, piecemeal=piecemeal)
    splits = json.loads((out / "split_tasks.json").read_text(encoding="utf-8"))
    click.echo(f"Wrote {len(tasks)} tasks to {out / 'tasks.json'} "
               f"(train {len(splits['train'])}, test {len(splits['test'])}).")


@eval_group.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (table.json, table.md, table.png).")
@click.option("--label", "labels", multiple=True, help="A name per run, in order (default: the spec each ran).")
def table(runs: tuple[Path, ...], out: Path, labels: tuple[str, ...]) -> None:
    """Several runs of one suite in one report; each compared with the first (pass^1, paired bootstrap)."""
    from .table import table_markdown, write_table

    result = write_table(list(runs), out, list(labels) or None)
    click.echo(table_markdown(result))
    click.echo(f"-> {out / 'table.json'}, {out / 'table.md'}" + (f", {out / 'table.png'}" if result["figures"] else ""))


@eval_group.command()
@click.argument("run_a", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead of a rich one.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_a: Path, run_b: Path, markdown: bool, as_json: bool) -> None:
    """Compare two runs of the same suite: B - A with bootstrap CIs and p-values."""
    table = compare_runs(run_a, run_b)
    if as_json:
        click.echo(json.dumps(table))
    elif markdown:
        click.echo(comparison_markdown(table))
    else:
        print_comparison(table)


@eval_group.command()
@click.argument("questions", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--answers", type=click.Path(exists=True, path_type=Path),
              help="BFCL possible_answer file for one QUESTIONS file, or the possible_answer folder (files matched by "
                   "name; default: possible_answer/ beside the questions). None is needed for the irrelevance and "
                   "relevance categories, which are scored by whether a call was made.")
@click.option("--model", "model_name", help="Model name or GGUF path (default: the bundled one).")
@click.option("--backend", default="llamacpp", show_default=True, help="Backend of --model.")
@click.option("--adapter", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A GGUF LoRA adapter (`agentspec train export`) to run the model with (llamacpp).")
@click.option("--spec", help="Agent spec (YAML path or name): its model, generation and decoding settings.")
@click.option("--threads", type=click.IntRange(min=1), help="llamacpp: CPU threads for --model.")
@click.option("--limit", type=click.IntRange(min=1), help="Run only the first N cases of each file.")
@click.option("--steps", type=click.Choice(["category", "free"]), default="category", show_default=True,
              help="category: the step's flags follow each case's category (one call for simple, several allowed for "
                   "parallel, a reply allowed for irrelevance); free: every case may be a reply or any number of calls, "
                   "so the model decides.")
@click.option("--unconstrained", is_flag=True,
              help="Decode without the grammar (prompt + validation + retries), for comparison.")
@click.option("--max-attempts", default=None, type=click.IntRange(min=1),
              help="Attempts per case before a malformed step counts as a parse error [default: 3, or the spec's].")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1), help="Tokens per step.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions JSON-lines file of one QUESTIONS file (resumable: rerun with the same --out).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for predictions/ (resumable) and report.json, report.md, report.png: accuracy per category.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object, last.")
def bfcl(questions: tuple[Path, ...], answers: Path | None, model_name: str | None, backend: str, adapter: Path | None,
         spec: str | None, threads: int | None, limit: int | None, steps: str, unconstrained: bool,
         max_attempts: int | None, max_tokens: int, out: Path | None, report_dir: Path | None, progress: bool,
         as_json: bool) -> None:
    """Run a model on BFCL QUESTIONS (v4 JSON-lines files, or folders of them) and score each case with BFCL's
    AST checker; accuracy per category.

    Each case is one step decoded by agentspec's step decoder: under the step grammar unless
    --unconstrained. Prints accuracy, valid rate (parsed and schema-valid) and counts by error type.
    """
    from .bfcl_report import MissingAnswersError, resolve_files, run_files, write_report

    if spec and model_name:
        raise click.UsageError("give --model or --spec, not both")
    files = resolve_files(list(questions), answers)
    if out is not None and (len(files) != 1 or report_dir is not None):
        raise click.UsageError("--out names the predictions file of one QUESTIONS file; for several use --report DIR")
    model, settings, mode, attempts = _bfcl_model(spec, model_name, backend, threads, adapter, max_tokens)
    mode = "validate" if unconstrained else mode
    attempts = max_attempts or attempts

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("bfcl"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
                  TimeRemainingColumn(), disable=not progress or as_json) as bar:
        task = bar.add_task("cases", total=None, acc="")
        made = {"calls": 0}

        def tick(row: dict) -> None:
            made["calls"] += row["calls"] is not None
            bar.update(task, advance=1, acc=f"parsed {made['calls']}")

        try:
            report = run_files(files, model, out_dir=report_dir, limit=limit, on_case=tick, mode=mode,
                               max_attempts=attempts, settings=settings, steps=steps,
                               out_file=out)
        except MissingAnswersError as exc:
            raise click.UsageError(exc.message) from None
    if report_dir is not None:
        write_report(report, report_dir, title=f"BFCL: {', '.join(p.name for p in questions)}")
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"BFCL {', '.join(p.name for p in questions)}: n={report['n']} accuracy={report['accuracy']:.3f} "
               f"valid_rate={report['valid_rate']:.3f} (decoding: {report['mode']}, steps: {steps})")
    for name, row in report["categories"].items():
        click.echo(f"  {name}: {row['accuracy']:.3f} ({row['correct']}/{row['n']}; 95% CI "
                   f"{row['ci'][0]:.3f}-{row['ci'][1]:.3f})")
    for error, count in report["errors"].items():
        if count:
            click.echo(f"  {error}: {count}")
    for case in report["malformed_cases"]:
        click.echo(f"  malformed case {case['id'] or '(no id)'}: {case['reason']}")
    if report_dir is not None:
        click.echo(f"Report written to {report_dir}")


@eval_group.command("bfcl-generate")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for BFCL_v4_<category>.json and possible_answer/ (BFCL's layout).")
@click.option("--pool", default="test", show_default=True,
              help="Function pool: test (written blind, never trained on), train, or a pool YAML file.")
@click.option("--n", "n", default=40, show_default=True, type=click.IntRange(min=1), help="Cases per category.")
@click.option("--seed", default=0, show_default=True, help="The same seed gives the same cases.")
@click.option("--categories", default=",".join(FC_CATEGORIES), show_default=True,
              help="Comma-separated categories to write.")
def bfcl_generate(out: Path, pool: str, n: int, seed: int, categories: str) -> None:
    """Generate function-calling cases per BFCL category from a function pool, in BFCL v4's format."""
    from .fc_suite import load_pool, parse_categories, write_bfcl_set

    paths = write_bfcl_set(load_pool(pool), out, n, seed, parse_categories(categories))
    click.echo(f"{n} cases x {len(paths)} categories ({', '.join(paths)}) from pool {pool} -> {out}")


def _bfcl_model(spec: str | None, model_name: str | None, backend: str, threads: int | None, adapter: Path | None,
                max_tokens: int) -> tuple[object, object, str, int]:
    """(model, generation settings, decoding mode, attempts) for ``eval bfcl``: a spec's, or a bare model's."""
    from .bfcl_runner import DEFAULT_SETTINGS

    if spec:
        from agentspec.spec import load_model as load_spec_model, load_spec

        agent_spec = load_spec(spec)
        model = load_spec_model(agent_spec)
        settings = agent_spec.generation.settings().with_(max_tokens=max_tokens)
        mode, attempts = agent_spec.decoding.mode, agent_spec.decoding.max_attempts
    else:
        from agentspec.runtime.registry import load_model

        model = load_model(backend, model_name, n_threads=threads, n_ctx=4096) if backend == "llamacpp" \
            else load_model(backend, model_name)
        settings, mode, attempts = DEFAULT_SETTINGS.with_(max_tokens=max_tokens), "auto", 3
    if adapter is not None:
        if not hasattr(model, "load_adapter"):
            raise click.UsageError(f"--adapter needs the llamacpp backend (the model is {type(model).__name__})")
        model.set_adapter(model.load_adapter(adapter))
    return model, settings, mode, attempts


@eval_group.command()
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path), help="tau2 retail db.json.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Corpus .txt to write.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="test: held-out users (new data for a model trained on train users); train: the others.")
@click.option("--user-split", type=click.Path(dir_okay=False, path_type=Path),
              help="user_split.json from `eval generate` (default: the split it makes with --seed/--eval-fraction).")
@click.option("--n", "n", type=click.IntRange(min=1), help="Users (documents) to render (default: all of the split).")
@click.option("--seed", default=0, show_default=True, help="Seed of the user split and of the users drawn.")
@click.option("--eval-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of held-out users when the split is recomputed.")
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path),
              help="Also include this text (e.g. the retail policy.md) as the first document.")
def corpus(db: Path, out: Path, split: str, user_split: Path | None, n: int | None, seed: int,
           eval_fraction: float, policy: Path | None) -> None:
    """Write retail domain text for `eval perplexity`: one paragraph per user of a split (profile, orders)."""
    from .corpus import write_corpus

    count = write_corpus(db, out, split, user_split=user_split, n=n, seed=seed, eval_fraction=eval_fraction,
                         policy=policy)
    click.echo(f"Wrote {count} documents ({split} users) to {out}.")


@eval_group.command()
@click.argument("corpus_path", metavar="CORPUS", type=click.Path(path_type=Path))
@click.option("--spec", help="Agent spec (YAML path or name): its model and LoRA adapters [default: retail].")
@click.option("--model", "model_name", help="Model name or GGUF path instead of a spec's.")
@click.option("--backend", help="Backend of --model: llamacpp (default) or transformers.")
@click.option("--adapter", help="Which of the spec's adapters is active; `none`: the base model [default: as the "
                                "spec runs].")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads [default: the spec's, else all cores].")
@click.option("--window", type=click.IntRange(min=2), help="Tokens per window [default: the model's context].")
@click.option("--stride", type=click.IntRange(min=1), help="Tokens between window starts [default: window // 2].")
@click.option("--max-tokens-per-doc", type=click.IntRange(min=2), help="Score only each document's first N tokens.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N documents.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object, last.")
def perplexity(corpus_path: Path, spec: str | None, model_name: str | None, backend: str | None,
               adapter: str | None, threads: int | None, window: int | None, stride: int | None,
               max_tokens_per_doc: int | None, limit: int | None, progress: bool, as_json: bool) -> None:
    """The model's perplexity on CORPUS: a .txt file (documents separated by blank lines), a .jsonl file
    ({"text": ...} per line) or a directory of .txt/.md files.

    Token-level negative log-likelihood in windows of the context length; with --spec the spec's model
    runs with its LoRA adapter, as the agent does. Compare runs with the same window and stride only.
    """
    from .corpus import load_corpus
    from .perplexity import load_scorer, perplexity as measure

    if spec and (model_name or backend):
        raise click.UsageError("give --spec or --model/--backend, not both")
    if adapter and (model_name or backend):
        raise click.UsageError("--adapter picks one of a spec's adapters: it needs --spec")
    documents = load_corpus(corpus_path, limit=limit)  # bad input fails before the model loads
    if model_name or backend:
        scorer = load_scorer(model=model_name, backend=backend, threads=threads, n_ctx=window)
    else:
        scorer = load_scorer(spec=spec or "retail", threads=threads, n_ctx=window,
                             adapter="" if adapter is None else adapter)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("perplexity"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[tokens]}"),
                  TimeRemainingColumn(), disable=not progress or as_json) as bar:
        task = bar.add_task("documents", total=len(documents), tokens="")
        result = measure(documents, scorer, window=window, stride=stride, max_tokens_per_doc=max_tokens_per_doc,
                         on_document=lambda done, tokens: bar.update(task, completed=done, tokens=f"{tokens} tokens"))
    summary = {**result.to_dict(), "corpus": str(corpus_path)}
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"Perplexity {result.perplexity:.3f} on {corpus_path}: mean NLL {result.mean_nll:.4f} nats/token, "
               f"{result.tokens} tokens in {result.documents} documents, {result.seconds:.1f} s")
    click.echo(f"  model {result.model}, adapter {result.adapter or 'none'}, window {result.window}, "
               f"stride {result.stride}")


@eval_group.command()
@click.option("--data", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The tau2 retail data folder (policy.md, db.json): the documents and the questions' facts.")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="test", show_default=True,
              help="dev: tune and look here; test: documents and wording held out (report it).")
@click.option("--spec", help="Agent spec whose model (and LoRA adapters) answers the questions; without it only "
                             "retrieval recall is measured.")
@click.option("--retrieval/--no-retrieval", "retrieval", default=None,
              help="Answer only with (or only without) retrieved passages [default: both].")
@click.option("--limit", type=click.IntRange(min=1), help="Answer only the first N questions (interleaved by kind).")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="recall@k.")
@click.option("--k-answer", default=3, show_default=True, type=click.IntRange(min=1),
              help="Passages put in the prompt with retrieval.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads of the model [default: the spec's].")
@click.option("--seed", default=0, show_default=True, help="Seed of the question set and its split.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (resumable: answers are kept). Default: a new temp dir.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print recall and accuracies as one JSON object, last.")
def docqa(data: Path, split: str, spec: str | None, retrieval: bool | None, limit: int | None, k: int, k_answer: int,
          threads: int | None, seed: int, out: Path | None, progress: bool, as_json: bool) -> None:
    """Questions about the policy, the catalogue and the FAQ: retrieval recall@k and answer accuracy.

    The questions (prices, availability, policy and FAQ facts) are generated from the documents and split
    by document and by wording. Prints recall@k with a Wilson 95% interval and, with --spec, the model's
    accuracy with and without the retrieved passages. Writes docqa.json, docqa.md and answers.jsonl.
    """
    from ._docqa_run import DocqaSettings, run_docqa

    out = out or Path(tempfile.mkdtemp(prefix="agentspec-docqa-"))
    report = run_docqa(DocqaSettings(data=str(data), out=str(out), split=split, spec=spec, retrieval=retrieval,
                                     limit=limit, k=k, k_answer=k_answer, threads=threads, seed=seed,
                                     progress=progress and not as_json))
    if as_json:
        recall = {key: v for key, v in report["recall"].items() if key != "rows"}
        click.echo(json.dumps({"recall": recall, "arms": report.get("arms"), "difference": report.get("difference"),
                               "out": str(out)}))
        return
    click.echo((out / "docqa.md").read_text(encoding="utf-8"))
    click.echo(f"Report written to {out / 'docqa.md'}")
