"""Task suites in tau2-bench's format: ``tasks.json``, ``split_tasks.json``, and their pydantic models.

A task file is a JSON list of tasks::

    {"id": "3",
     "description": {...} | "..." (optional),
     "category": "cancel" (optional; ours, not tau2's),
     "user_scenario": {"persona": "..." (optional),
                       "instructions": {"domain", "reason_for_call", "known_info",
                                        "unknown_info", "task_instructions"}},
     "evaluation_criteria": {"actions": [{"action_id", "name", "arguments", "requestor"?}],
                             "communicate_info": ["..."], "nl_assertions": [...] (optional)}}

A split file maps a split name to task ids (tau2's ``split_tasks.json``): ``{"train": [...], "test": [...]}``.

Contract:
- ``load_tasks(path, split_file=None, split=None)`` returns ``Task`` models in file order, restricted
  to the ids of ``split`` when given. Malformed input raises ``TaskFileError`` naming the file, the
  task id (or its index) and the field path; nothing is half-loaded.
- Unknown fields tau2 itself writes (``initial_state``, ``ticket``, ...) are kept on ``Task`` (extra
  fields allowed at the top level) so a tau2 file round-trips; inside the scenario and the criteria,
  unknown fields are errors, since a typo there would silently change what is measured.
- ``save_tasks`` writes the same format back (and, optionally, the split file).

Not here: generating tasks (``generate``), running them (``harness``) or scoring them (``reward``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentspec.errors import AgentSpecError

__all__ = [
    "TaskFileError",
    "UserInstructions",
    "UserScenario",
    "Action",
    "EvaluationCriteria",
    "Task",
    "load_tasks",
    "load_splits",
    "save_tasks",
]


class TaskFileError(AgentSpecError):
    """A task or split file that cannot be read: missing, not JSON, or a task with a bad field."""

    code = "task_file"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserInstructions(_Strict):
    """What the simulated user knows and wants (tau2's ``StructuredUserInstructions``)."""

    domain: str
    reason_for_call: str
    known_info: str | None = None
    unknown_info: str | None = None
    task_instructions: str

    def __str__(self) -> str:
        parts = [f"Domain: {self.domain}", f"Reason for call:\n\t{self.reason_for_call}"]
        if self.known_info:
            parts.append(f"Known info:\n\t{self.known_info}")
        if self.unknown_info:
            parts.append(f"Unknown info:\n\t{self.unknown_info}")
        parts.append("Task instructions:\n\t" + self.task_instructions.replace("\n", "\n\t"))
        return "\n".join(parts)


class UserScenario(_Strict):
    """Everything a user simulator may see; the evaluation criteria are deliberately not in it."""

    persona: str | None = None
    # tau2 also allows free-text instructions; the scripted user needs the structured form.
    instructions: UserInstructions | str

    def __str__(self) -> str:
        head = f"Persona:\n\t{self.persona}\n" if self.persona else ""
        return f"{head}Instructions:\n{self.instructions}"


class Action(_Strict):
    """One tool call of the reference trajectory."""

    action_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    requestor: str = "assistant"
    info: str | None = None
    compare_args: list[str] | None = None


class EvaluationCriteria(_Strict):
    """The gold: actions replayed for the target state, and facts the agent must tell the user."""

    actions: list[Action] = Field(default_factory=list)
    communicate_info: list[str] = Field(default_factory=list)
    nl_assertions: list[str] | None = None
    # tau2 writes these; kept so its files load. Our reward uses the DB + COMMUNICATE basis only.
    env_assertions: list[dict[str, Any]] | None = None
    reward_basis: list[str] | None = None


class Task(BaseModel):
    """One task. Extra top-level fields of tau2 files are kept as they are."""

    model_config = ConfigDict(extra="allow")

    id: str
    description: str | dict[str, Any] | None = None
    user_scenario: UserScenario
    evaluation_criteria: EvaluationCriteria = Field(default_factory=EvaluationCriteria)
    category: str | None = None


# ---- loading ------------------------------------------------------------------------------------

def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise TaskFileError(f"{what} {path} does not exist",
                            hint="check the path; `agentspec eval generate` writes a suite")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaskFileError(f"{what} {path} is not valid JSON: {exc}",
                            hint="fix the file or regenerate it") from None
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise TaskFileError(f"{what} {path} holds a string with an unpaired surrogate escape (\\udXXX)",
                            hint="a JSON text escape must encode a real character; fix or regenerate the file"
                            ) from None
    return raw


def _field_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(task)"
        lines.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - len(lines)
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def _parse_tasks(raw: Any, path: Path) -> list[Task]:
    if not isinstance(raw, list):
        raise TaskFileError(f"{path}: expected a JSON list of tasks, got {type(raw).__name__}",
                            hint="a tasks.json holds a list of task objects, as tau2's does")
    tasks, seen = [], set()
    for index, entry in enumerate(raw):
        label = f"task #{index}"
        if isinstance(entry, dict) and "id" in entry:
            entry = {**entry, "id": str(entry["id"])}  # tau2 ids are strings; some files use ints
            label = f"task {entry['id']!r} (#{index})"
        try:
            task = Task.model_validate(entry)
        except ValidationError as exc:
            raise TaskFileError(f"{path}: {label}: {_field_errors(exc)}",
                                hint="fix the named field; see agentspec.evals.tasks for the format"
                                ) from None
        if task.id in seen:
            raise TaskFileError(f"{path}: {label}: duplicate task id {task.id!r}",
                                hint="give every task a unique id")
        seen.add(task.id)
        tasks.append(task)
    return tasks


def load_splits(split_file: str | os.PathLike[str]) -> dict[str, list[str]]:
    """``{split name: [task ids]}`` from a tau2-style ``split_tasks.json``."""
    path = Path(split_file)
    raw = _read_json(path, "split file")
    if not isinstance(raw, dict) or not all(
            isinstance(v, list) and all(isinstance(i, (str, int)) for i in v) for v in raw.values()):
        raise TaskFileError(f"{path}: expected {{split name: [task ids]}}",
                            hint='a split file looks like {"train": ["0", "1"], "test": ["2"]}')
    return {name: [str(i) for i in ids] for name, ids in raw.items()}


def load_tasks(path: str | os.PathLike[str], split_file: str | os.PathLike[str] | None = None,
               split: str | None = None) -> list[Task]:
    """Tasks of ``path`` in file order; with ``split``, only those the split file lists for it.

    ``split`` without ``split_file`` looks for ``split_tasks.json`` next to the task file.
    """
    path = Path(path)
    tasks = _parse_tasks(_read_json(path, "task file"), path)
    if split is None:
        return tasks
    split_path = Path(split_file) if split_file is not None else path.with_name("split_tasks.json")
    splits = load_splits(split_path)
    if split not in splits:
        raise TaskFileError(f"{split_path} has no split {split!r}",
                            hint=f"choose one of: {', '.join(sorted(splits)) or '(none)'}")
    wanted = splits[split]
    known = {t.id for t in tasks}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise TaskFileError(f"{split_path}: split {split!r} names task ids not in {path}: {unknown[:5]}",
                            hint="the split file belongs to another task file; regenerate both together")
    keep = set(wanted)
    return [t for t in tasks if t.id in keep]


def save_tasks(tasks: Iterable[Task], path: str | os.PathLike[str],
               splits: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Write ``tasks`` as a tau2 ``tasks.json`` (and ``splits`` as ``split_tasks.json`` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unset fields are left out; tau2's own extra fields are written back as they were read (null too).
    data = [{**t.model_dump(mode="json", exclude_none=True), **(t.model_extra or {})} for t in tasks]
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if splits is not None:
        split_path = path.with_name("split_tasks.json")
        split_path.write_text(json.dumps({k: list(v) for k, v in splits.items()}, indent=2) + "\n",
                              encoding="utf-8")
    return path
