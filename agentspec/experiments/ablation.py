"""``agentspec experiment data-ablation``: the same training with and without the verification filters.

    run_ablation(AblationSettings(db="db.json", suite="suite/", out="ablation/", noise=0.3))

Two arms, identical except for ``DataSettings.verify``:

- ``verified``: ``train data`` with the filters on (rejected dialogues dropped), ``noise`` as given;
- ``unverified``: ``train data --no-verify`` with the same seed and noise (the same dialogues, the
  rejected ones kept; it starts from the verified arm's dialogues.jsonl and only filters differently);

then, for each, the same ``train lora`` (same base, seed and number of optimizer steps: equal compute;
the pipeline's LoRA hyperparameters, ``pipeline_lora()``, where rank, alpha, lr, batch and max_len are
not given), the adapter exported as a GGUF LoRA (``train export``), and pass^1 of the ``retail``
agent with that adapter on the suite's held-out (test split) tasks. The reader and its request scope
are the same in every arm (the packaged spec's), so the arms differ only in their adapter. With ``baseline`` the agent without any adapter is measured too.

What the report compares: pass^1 (with bootstrap intervals, and the paired difference verified -
unverified with its interval and p-value, as ``eval compare``), the held-out loss, and the data
counts (kept, rejected by reason, noisy dialogues caught). The held-out loss of BOTH arms is computed
on the verified arm's ``valid.jsonl``: dialogues of neither arm's training set (the train/valid split
is by dialogue id and seed), all of which passed the filters; the unverified arm's own validation set
would contain the noise it is being judged on.

Output folder: ``experiment.json``; ``arms/<arm>/`` with ``data/``, ``lora_data/`` (links to its
train.jsonl and the common valid.jsonl), ``lora/``, ``export/adapter.gguf``, ``spec.yaml``, ``tau/``
and ``result.json``; ``ablation.json`` / ``.md`` / ``.png``. Every step resumes: a step marked done in
its folder is skipped, data generation, training and the tau run continue where they stopped, and
whatever depends on a step that ran again is redone (a retrained adapter is evaluated afresh).

Not here: the steps themselves (``train.data``, ``train.lora``, ``train.export``, ``evals``).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console

from ._common import (ExperimentInputError, check_db, check_suite, claim_dir, heldout_tasks, measure_pass1,
                      paired, read_json, variant_spec, write_json)
from ._report import write_ablation_report

__all__ = ["AblationSettings", "ARMS", "pipeline_lora", "run_ablation"]

ARMS = {"verified": True, "unverified": False}  # arm -> DataSettings.verify


def _pipeline_default(name: str) -> Any:
    """The shipped adapter's setting (``PipelineSettings``), so the ablation trains like the pipeline."""
    from agentspec.train.pipeline import PipelineSettings

    return next(f.default for f in fields(PipelineSettings) if f.name == name)


def pipeline_lora() -> dict[str, Any]:
    """Every LoRA hyperparameter the pipeline sets (a later one, too), without run-specific settings."""
    from agentspec.train.lora import LoraSettings
    from agentspec.train.pipeline import PipelineSettings

    lora = {f.name for f in fields(LoraSettings)}
    skip = {"data", "out", "base", "steps", "budget_minutes", "threads", "seed", "restart"}
    return {f.name: f.default for f in fields(PipelineSettings)
            if f.name in lora and f.name not in skip and f.default is not MISSING}


@dataclass
class AblationSettings:
    out: str
    db: str
    suite: str
    dialogues: int = 400
    noise: float = 0.3  # share of dialogues with one plausible teacher mistake
    steps: int = 100  # optimizer steps, the same in both arms
    base: str = "smollm2-135m"
    rank: int = field(default_factory=lambda: _pipeline_default("rank"))
    alpha: float = field(default_factory=lambda: _pipeline_default("alpha"))
    lr: float = field(default_factory=lambda: _pipeline_default("lr"))
    batch: int = field(default_factory=lambda: _pipeline_default("batch"))
    max_len: int = field(default_factory=lambda: _pipeline_default("max_len"))
    prompt: str | None = None  # system prompt template of data and agent (default: the spec's)
    tasks: int | None = None  # first N test-split tasks (None: all)
    trials: int = 1
    max_turns: int = 30
    user: str = "scripted"  # the evals' rule-based customer: scripted or varied
    seed: int = 0
    threads: int | None = None  # torch and llama.cpp threads (None: all cores)
    data_workers: int = 1
    baseline: bool = False  # also measure the agent with no adapter
    progress: bool = True


class _Steps:
    """A step runs when its folder is not marked done or a step it depends on ran in this invocation."""

    def __init__(self) -> None:
        self.ran: set[str] = set()

    def todo(self, key: str, folder: Path, after: tuple[str, ...] = ()) -> bool:
        if not (folder / ".done").exists() or self.ran & set(after):
            self.ran.add(key)
            return True
        return False

    @staticmethod
    def mark(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
        write_json(folder / ".done", info)
        return info


def _link(folder: Path, files: dict[str, Path]) -> Path:
    """``folder/<name>`` -> each source file (a symlink; a copy where links are not allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        target = folder / name
        target.unlink(missing_ok=True)
        try:
            target.symlink_to(source.resolve())
        except OSError:
            shutil.copyfile(source, target)
    return folder


def _reuse_dialogues(source: Path, folder: Path) -> bool:
    """Start ``folder`` from the dialogues already made in ``source`` (same seed and noise: the same ones).

    ``train data`` resumes from the dialogues in its folder and filters them at the end, so the second
    arm only re-filters them with its own ``verify``. False if there is nothing to reuse.
    """
    from agentspec.train.data import DIALOGUES, META

    if (folder / DIALOGUES).exists() or not (source / DIALOGUES).is_file() or not (source / META).is_file():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for name in (META, DIALOGUES):
        shutil.copyfile(source / name, folder / name)
    return True


def _data(arm: str, verify: bool, s: AblationSettings, suite: Path, root: Path, steps: _Steps,
          console: Console) -> dict[str, Any]:
    from agentspec.train.data import DIALOGUES, META, DataError, DataSettings, generate_data

    folder = root / arm / "data"
    if steps.todo(f"data:{arm}", folder):
        console.rule(f"{arm}: train data {'(verified)' if verify else '--no-verify'}, noise {s.noise}")
        settings = DataSettings(db=s.db, out=str(folder), n=s.dialogues, seed=s.seed, prompt=s.prompt,
                                split_file=str(suite / "user_split.json"), noise_rate=s.noise, verify=verify,
                                workers=s.data_workers, progress=s.progress)
        reused = arm != "verified" and _reuse_dialogues(root / "verified" / "data", folder)
        try:
            r = generate_data(settings)
        except DataError:
            if not reused:
                raise
            for name in (META, DIALOGUES):  # the copies did not fit this run: make its own dialogues
                (folder / name).unlink(missing_ok=True)
            r = generate_data(settings)
        counts = r.card.get("counts", {})
        return steps.mark(folder, {"dialogues": r.dialogues, "kept": r.kept, "rejected": r.rejected,
                                   "train_examples": r.train_examples, "valid_examples": r.valid_examples,
                                   "rejected_without_noise": counts.get("rejected_without_noise"),
                                   "rejections": r.card.get("rejections", {}), "noise": r.card.get("noise", {})})
    return read_json(folder / ".done")


def _train_and_export(arm: str, s: AblationSettings, root: Path, steps: _Steps, console: Console) -> tuple[dict, Path]:
    from agentspec.train.export import export_adapter
    from agentspec.train.lora import LoraSettings, train_lora

    lora, export = root / arm / "lora", root / arm / "export"
    if steps.todo(f"lora:{arm}", lora, after=("data:verified", f"data:{arm}")):
        console.rule(f"{arm}: train lora, {s.steps} steps")
        data = _link(root / arm / "lora_data", {"train.jsonl": root / arm / "data" / "train.jsonl",
                                                "valid.jsonl": root / "verified" / "data" / "valid.jsonl"})
        summary = train_lora(LoraSettings(**{
            **pipeline_lora(), "data": str(data), "out": str(lora), "base": s.base, "rank": s.rank, "alpha": s.alpha,
            "lr": s.lr, "steps": s.steps, "batch": s.batch, "max_len": s.max_len, "threads": s.threads, "seed": s.seed,
            "restart": bool(steps.ran & {"data:verified", f"data:{arm}"})}))  # new data: old checkpoints are stale
        steps.mark(lora, {k: summary.get(k) for k in ("steps", "examples", "sequences", "valid_examples",
                                                       "train_loss_last", "valid_loss", "seconds",
                                                       "target_tokens_per_s")})
    if steps.todo(f"export:{arm}", export, after=(f"lora:{arm}",)):
        path = export_adapter(lora / "adapter", export)
        steps.mark(export, {"adapter": str(path), "bytes": path.stat().st_size})
    return read_json(lora / ".done"), Path(read_json(export / ".done")["adapter"])


def _evaluate(arm: str, s: AblationSettings, suite: Path, db: Path, root: Path, adapter: Path | None,
              fresh: bool, console: Console) -> dict[str, Any]:
    folder = root / arm
    if fresh and (folder / "tau").exists():
        shutil.rmtree(folder / "tau")  # episodes of a previous adapter: not this arm's any more
    console.rule(f"{arm}: pass^1 on the held-out tasks")
    adapters = [{"name": "retail", "path": str(adapter)}] if adapter else []
    spec = variant_spec(folder / "spec.yaml", name=f"ablation-{arm}", adapters=adapters, prompt=s.prompt,
                        threads=s.threads)
    return measure_pass1(spec, heldout_tasks(suite, s.tasks), db, folder / "tau", trials=s.trials,
                         threads=s.threads, max_turns=s.max_turns, seed=s.seed, user=s.user,
                         progress=s.progress)


def run_ablation(s: AblationSettings, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) both arms (and the baseline), then write the reports; returns ablation.json's content."""
    console = console or Console()
    # 1. Inputs, all checked before anything slow.
    suite, db = check_suite(s.suite), check_db(s.db)
    if s.dialogues < 1 or s.steps < 1 or s.trials < 1 or s.max_turns < 1 or not 0.0 <= s.noise <= 1.0:
        raise ExperimentInputError(f"dialogues={s.dialogues}, steps={s.steps}, trials={s.trials}, "
                                   f"max_turns={s.max_turns}, noise={s.noise}",
                                   hint="counts must be at least 1 and the noise rate within 0..1")
    tasks = heldout_tasks(suite, s.tasks)
    out = Path(s.out)
    identity = {k: v for k, v in asdict(s).items() if k not in ("out", "threads", "data_workers", "baseline",
                                                                "progress", "tasks")}
    claim_dir(out, {**identity, "experiment": "data-ablation", "db": str(db), "suite": str(suite),
                    "task_ids": [t.id for t in tasks], "pipeline_lora": pipeline_lora()})
    root, steps = out / "arms", _Steps()
    # 2. Data of both arms first: every arm's held-out loss is measured on the verified arm's valid set.
    data = {arm: _data(arm, verify, s, suite, root, steps, console) for arm, verify in ARMS.items()}
    # 3. Per arm: training, export, pass^1; result.json when finished.
    results: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        lora, adapter = _train_and_export(arm, s, root, steps, console)
        result = read_json(root / arm / "result.json")
        if result is None or f"export:{arm}" in steps.ran:
            tau = _evaluate(arm, s, suite, db, root, adapter, f"export:{arm}" in steps.ran, console)
            result = {"arm": arm, "verify": ARMS[arm], "data": data[arm], "lora": lora,
                      "heldout_loss": lora.get("valid_loss"), "adapter": str(adapter), **tau}
            write_json(root / arm / "result.json", result)
        else:
            console.print(f"{arm}: done before, skipped (pass^1 {result['pass1']:.3f})")
        results[arm] = result
    if s.baseline:
        result = read_json(root / "base" / "result.json")
        if result is None:
            result = {"arm": "base", "verify": None, **_evaluate("base", s, suite, db, root, None, False, console)}
            write_json(root / "base" / "result.json", result)
        results["base"] = result
    # 4. Reports.
    report = _report(results, s, suite, db)
    write_ablation_report(out, report)
    console.print(f"report -> {out}/ablation.md, .json, .png", soft_wrap=True)
    return report


def _report(results: dict[str, dict[str, Any]], s: AblationSettings, suite: Path, db: Path) -> dict[str, Any]:
    v, u = results["verified"], results["unverified"]
    loss = (None if v["heldout_loss"] is None or u["heldout_loss"] is None
            else round(v["heldout_loss"] - u["heldout_loss"], 4))
    comparison = {"pass1": paired(u["run_dir"], v["run_dir"]), "heldout_loss_diff": loss}
    if "base" in results:
        comparison["verified_vs_base"] = paired(results["base"]["run_dir"], v["run_dir"])
        comparison["unverified_vs_base"] = paired(results["base"]["run_dir"], u["run_dir"])
    settings = {k: value for k, value in asdict(s).items() if k != "progress"}
    return {"experiment": "data-ablation", "suite": str(suite), "db": str(db),
            "settings": json.loads(json.dumps(settings, default=str)), "arms": results,
            "comparison": comparison}
