"""What the experiments share: inputs checked up front, the experiment folder, variant specs, pass^1.

Contract:
- ``check_db``, ``check_suite``, ``check_adapter_dir`` raise ``ExperimentInputError`` (message + hint)
  for a missing or malformed input before anything slow starts. A suite is the folder
  ``agentspec eval generate`` writes: ``tasks.json``, ``split_tasks.json`` with a non-empty ``test``
  split, and ``user_split.json`` (held-out users for corpora, training users for data).
- ``claim_dir(out, identity)`` records what an experiment folder measures in ``experiment.json``; a
  rerun with different result-affecting settings raises ``ExperimentDirMismatchError`` naming them,
  so results of two different experiments are never mixed. Threads and progress are not identity.
- ``variant_spec(path, ...)`` writes a small YAML spec that ``extends: retail`` (the specialized
  agent's graph, request scope included) and overrides only the model file, the adapters (none
  unless given), the system prompt and threads: every variant is the same agent apart from what the
  experiment varies (its reader included: trained on wording families, not on the adapter's data).
- ``measure_pass1(spec, tasks, db, run_dir, ...)`` runs the suite with the evals harness
  (``run_suite``, resumable per episode in ``run_dir``), writes its report there and returns pass^1
  with its bootstrap interval and a few diagnostics. ``paired(run_a, run_b)`` is ``eval compare``'s
  paired bootstrap of pass^1 (b - a).
- ``write_json`` writes atomically (``.partial`` then rename).

Not here: the experiments themselves (``compression``, ``ablation``), the CLI (``cli``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from agentspec.errors import AgentSpecError
from agentspec.train._report import write_json  # noqa: F401 - re-exported for the experiments

__all__ = ["ExperimentError", "ExperimentInputError", "ExperimentDirMismatchError", "EXPERIMENT_FILE",
           "check_db", "check_suite", "check_adapter_dir", "heldout_tasks", "claim_dir", "write_json", "read_json",
           "variant_spec", "measure_pass1", "paired", "training_prompt",
           "training_data", "pyplot"]

EXPERIMENT_FILE = "experiment.json"
_SUITE_HINT = "Create one with `agentspec eval generate --db DB --out SUITE --n 60` (or pass --run DIR of `train pipeline`)."
# Episode metrics copied into the experiment reports (the run's report.json has them all).
_METRICS = ("valid_step_share", "hallucinated_ids_per_episode", "policy_violations_per_episode", "db_match_rate",
            "seconds_per_episode", "agent_seconds_per_turn", "prompt_tokens_per_episode")


class ExperimentError(AgentSpecError):
    """An experiment that cannot run as asked."""

    code = "experiment"


class ExperimentInputError(ExperimentError):
    """A missing or malformed input: adapter folder, task suite, db, quantization type."""

    code = "experiment_input"


class ExperimentDirMismatchError(ExperimentError):
    """An output folder that already holds an experiment with other settings."""

    code = "experiment_dir_mismatch"


# ---- inputs ---------------------------------------------------------------------------------------

def check_db(db: str | os.PathLike[str] | None) -> Path:
    if not db or not Path(db).is_file():
        raise ExperimentInputError(f"retail db {db} does not exist" if db else "no retail db given",
                                   hint="Pass --db PATH to the tau2 retail db.json (e.g. ../shared/data/tau2-retail/db.json).")
    return Path(db).resolve()


def check_suite(suite: str | os.PathLike[str] | None) -> Path:
    if not suite:
        raise ExperimentInputError("no task suite given", hint=f"Pass --suite SUITE_DIR. {_SUITE_HINT}")
    folder = Path(suite)
    if not folder.is_dir():
        raise ExperimentInputError(f"task suite folder {folder} does not exist", hint=_SUITE_HINT)
    missing = [n for n in ("tasks.json", "split_tasks.json", "user_split.json") if not (folder / n).is_file()]
    if missing:
        raise ExperimentInputError(f"{folder} is not a task suite: {', '.join(missing)} missing", hint=_SUITE_HINT)
    try:
        test = json.loads((folder / "split_tasks.json").read_text(encoding="utf-8")).get("test")
    except (ValueError, AttributeError) as exc:
        raise ExperimentInputError(f"{folder / 'split_tasks.json'} is not a split file ({exc})", hint=_SUITE_HINT) from None
    if not test:
        raise ExperimentInputError(f"{folder / 'split_tasks.json'} has no held-out tasks (split `test` is empty)",
                                   hint="Regenerate the suite with a non-zero --eval-fraction.")
    return folder.resolve()


def check_adapter_dir(path: str | os.PathLike[str] | None) -> Path:
    """The folder holding ``adapter_config.json``: PATH itself or PATH/adapter (``train lora --out``)."""
    hint = ("Point --adapter-dir at the --out folder of `agentspec train lora` (or its adapter/ subfolder), "
            "or pass --run DIR of `agentspec train pipeline`.")
    if not path:
        raise ExperimentInputError("no adapter given", hint=hint)
    folder = Path(path)
    for candidate in (folder, folder / "adapter"):
        if (candidate / "adapter_config.json").is_file() and (candidate / "adapter_model.safetensors").is_file():
            return candidate.resolve()
    what = "does not exist" if not folder.exists() else "holds no peft adapter (adapter_config.json + adapter_model.safetensors)"
    raise ExperimentInputError(f"adapter folder {folder} {what}", hint=hint)


def heldout_tasks(suite: Path, limit: int | None) -> list[Any]:
    """The suite's held-out (test split) tasks, the first ``limit`` of them."""
    from agentspec.evals.tasks import load_tasks

    tasks = load_tasks(suite / "tasks.json", split_file=suite / "split_tasks.json", split="test")
    return tasks[:limit] if limit else tasks


def training_data(adapter: Path) -> Path | None:
    """The data folder the adapter was trained on (``train.json``'s settings), if it still exists."""
    for summary in (adapter / "train.json", adapter.parent / "train.json"):
        if summary.is_file():
            data = json.loads(summary.read_text(encoding="utf-8")).get("settings", {}).get("data")
            return Path(data) if data and Path(data).is_dir() else None
    return None


def training_prompt(adapter: Path) -> str | None:
    """The system prompt the adapter's data was made with (``train.json`` -> data's ``card.json``), if known.

    The agent must run with the prompt it was trained on; a name stays a name, an existing path becomes absolute.
    """
    data = training_data(adapter)
    card = data / "card.json" if data else None
    if card and card.is_file():
        prompt = json.loads(card.read_text(encoding="utf-8")).get("settings", {}).get("prompt")
        if prompt and Path(prompt).is_file():
            return str(Path(prompt).resolve())
        return prompt or None
    return None


# ---- the experiment folder ------------------------------------------------------------------------

def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def claim_dir(out: Path, identity: dict[str, Any]) -> None:
    """Record ``identity`` in ``out/experiment.json``, or check that it matches the one there."""
    out.mkdir(parents=True, exist_ok=True)
    old = read_json(out / EXPERIMENT_FILE)
    identity = json.loads(json.dumps(identity, default=str))  # as it reads back: tuples -> lists, paths -> str
    if old is None:
        write_json(out / EXPERIMENT_FILE, identity)
        return
    changed = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
    if changed:
        raise ExperimentDirMismatchError(
            f"{out} holds an experiment with different {', '.join(changed)}",
            hint="Rerun with the same options to resume it, or choose a new --out folder.")


# ---- variants and their pass^1 --------------------------------------------------------------------

def variant_spec(path: Path, *, name: str, model: str | None = None, adapters: Sequence[dict[str, Any]] = (),
                 prompt: str | None = None, threads: int | None = None) -> Path:
    """Write a spec extending ``retail``: only model file, adapters, prompt and threads differ.

    The parent is the specialized agent, not ``retail-base``: what an experiment measures is the agent
    that ships, with its reader and request scope (``understanding``). ``adapters`` replace retail's
    (none: the model alone).
    """
    data: dict[str, Any] = {"extends": "retail", "name": name, "adapters": [dict(a) for a in adapters]}
    model_section = {k: v for k, v in (("name", model), ("threads", threads)) if v is not None}
    if model_section:
        data["model"] = model_section
    if prompt:
        data["prompts"] = {"system": prompt}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by `agentspec experiment`: the retail agent with this experiment's variant.\n"
                    + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    from agentspec.spec import load_spec

    load_spec(path)  # every problem now (a missing model or adapter file), not inside the first episode
    return path


def measure_pass1(spec: Path, tasks: Sequence[Any], db: Path, run_dir: Path, *, trials: int = 1,
                  threads: int | None = None, max_turns: int = 30, seed: int = 0, user: str = "scripted",
                  progress: bool = True) -> dict[str, Any]:
    """pass^1 of the agent ``spec`` on ``tasks`` with the rule-based user ``user`` (``scripted``, or
    ``varied``: reworded openings and answers), resumable in ``run_dir``."""
    from agentspec.evals.agents import AgentFactory, check_agent
    from agentspec.evals.harness import UserFactory, run_suite
    from agentspec.evals.report import write_report

    options = {"spec": str(spec)}
    check_agent("spec", **options)
    run_suite(tasks, db, AgentFactory.of("spec", threads=threads, **options), UserFactory(user), trials,
              run_dir, workers=1, max_turns=max_turns, progress=progress, seed=seed)
    report = write_report(run_dir)
    return {"pass1": report["pass_hat_k"]["1"], "pass1_ci": report["ci"]["1"]["pass_hat_k"],
            "n_tasks": report["n_tasks"], "trials": report["trials"], "run_dir": str(run_dir),
            "metrics": {k: report["metrics"].get(k) for k in _METRICS}}


def paired(run_a: str | os.PathLike[str], run_b: str | os.PathLike[str]) -> dict[str, Any]:
    """pass^1 of run b - run a on their common tasks: paired bootstrap interval and p-value."""
    from agentspec.evals.report import compare_runs

    row = compare_runs(run_a, run_b)["passk"]["pass_hat_k"]["1"]
    return {"a": row["a"], "b": row["b"], "diff": row["diff"], "ci": row["ci"], "p_value": row["p_value"]}


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt
