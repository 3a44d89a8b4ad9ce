"""The whole specialization, one command: ``agentspec train pipeline --db DB --out DIR [--install]``.

Reproduces the adapter that the packaged ``retail`` spec ships, from a clean checkout:

1. ``OUT/suite``: the retail task suite and its **user split** (``eval generate``); the held-out
   users' tasks are the test split, and no dialogue of step 2 may involve them;
2. ``OUT/data``: verified synthetic dialogues of the training users (``train data``);
3. ``OUT/lora``: one LoRA adapter trained on all of them (``train lora``);
4. ``OUT/export/retail.gguf``: the adapter as a GGUF LoRA for llama.cpp (``train export``);
5. ``OUT/reader``: the learned reader (``train reader-data`` then ``train reader``): customers' words
   from the training wording families, the MiniLM encoder's heads fitted on them (minutes); then its
   tuned answer (``train reader-answer``, ``answer_members`` times with seeds ``seed``, ``seed`` + 1, ...:
   the encoder's top layers fine-tuned on those rows and the packaged reply files, ~5 min each); then
   its tuned requests head (``train reader-requests`` on ``requests_messages`` more messages of seed
   ``seed`` + 7: the encoder's top layers fine-tuned with the requests head, ~15 min for 42000);
6. with ``--install``: the adapter and the reader copied to ``agentspec/specs/adapters/`` (where
   ``retail.yaml`` points), with ``retail.json`` beside them recording how they were made and their figures.

Every step resumes: a finished step (marked done in its folder) is skipped, a half-done one continues
(data and training checkpoint themselves), and once a step runs every later step runs again (a
retrained adapter is exported afresh). The defaults are the ones the shipped adapter
was made with; ``PipelineSettings`` names each.

Not here: the steps themselves (``data``, ``lora``, ``export``); comparing the result
(``agentspec eval tau ... --spec retail`` vs ``--spec retail-base``).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["PipelineSettings", "installed_adapter_dir", "run_pipeline"]


@dataclass
class PipelineSettings:
    db: str
    out: str
    tasks: int = 120  # suite size; its test split is the held-out measure
    dialogues: int = 500
    seed: int = 0
    reader_messages: int = 20000  # labelled messages the reader is fitted on (train reader-data --n)
    answer_members: int = 2  # tuned answer members (train reader-answer runs; 0: none)
    requests_messages: int = 42000  # messages the tuned requests head is fitted on (0: the frozen head stays)
    rank: int = 16
    alpha: float = 32.0
    lr: float = 5e-4
    layers: int | None = 8  # top decoder layers adapted (of SmolLM2-135M's 30): CPU training ~2x faster
    steps: int | None = 260  # ~2 h on 2 CPU cores; None: one epoch (~480 steps) within budget_minutes
    batch: int = 2
    max_len: int = 8192
    micro_tokens: int = 1  # one sequence per forward: no padding, so SDPA's causal kernel (~1.35x on CPU)
    budget_minutes: float = 90.0
    threads: int | None = None
    install: bool = False


def installed_adapter_dir() -> Path:
    """Where the packaged specs look for shipped adapters (``agentspec/specs/adapters``)."""
    from agentspec.spec import _specs_dir

    return _specs_dir() / "adapters"


class _Steps:
    """Which steps still have to run: a step runs when it is not marked done or an earlier step ran."""

    def __init__(self) -> None:
        self.ran = False

    def todo(self, folder: Path) -> bool:
        self.ran = self.ran or not (folder / ".done").exists()
        return self.ran

    @staticmethod
    def mark(folder: Path, info: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".done").write_text(json.dumps(info, indent=1, sort_keys=True))


def run_pipeline(s: PipelineSettings, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) every step; returns a summary with each step's figures."""
    from agentspec.evals.generate import generate_suite
    from agentspec.train.data import DataSettings, generate_data
    from agentspec.train.export import export_adapter
    from agentspec.train.lora import LoraSettings, train_lora
    from agentspec.train.answer_tuning import AnswerTuning, packaged_replies, tune_answer
    from agentspec.train.reader import ReaderSettings, train_reader
    from agentspec.train.reader_data import write_reader_data
    from agentspec.train.requests_tuning import RequestsTuning, tune_requests

    console = console or Console()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"settings": asdict(s)}
    started = time.time()
    steps = _Steps()

    suite = out / "suite"
    if steps.todo(suite):
        console.rule("1/5 task suite and user split")
        tasks = generate_suite(s.db, suite, s.tasks, seed=s.seed)
        steps.mark(suite, {"tasks": len(tasks)})
    summary["suite"] = json.loads((suite / ".done").read_text())

    data = out / "data"
    if steps.todo(data):
        console.rule("2/5 verified synthetic dialogues")
        result = generate_data(DataSettings(db=s.db, out=str(data), n=s.dialogues, seed=s.seed,
                                            split_file=str(suite / "user_split.json")))
        steps.mark(data, {"kept": result.kept, "rejected": result.rejected, "train_examples": result.train_examples,
                     "valid_examples": result.valid_examples})
    summary["data"] = json.loads((data / ".done").read_text())

    lora = out / "lora"
    if steps.todo(lora):
        console.rule("3/5 LoRA training")
        result = train_lora(LoraSettings(data=str(data), out=str(lora), rank=s.rank, alpha=s.alpha, lr=s.lr,
                                         layers=s.layers, steps=s.steps, batch=s.batch, max_len=s.max_len,
                                         micro_tokens=s.micro_tokens,
                                         budget_minutes=s.budget_minutes, threads=s.threads, seed=s.seed))
        steps.mark(lora, {k: result.get(k) for k in ("steps", "train_loss_last", "valid_loss", "valid_loss_before",
                                                 "seconds", "target_tokens_per_s")})
    summary["lora"] = json.loads((lora / ".done").read_text())

    export = out / "export"
    if steps.todo(export):
        console.rule("4/5 GGUF export")
        export.mkdir(parents=True, exist_ok=True)
        path = export_adapter(lora / "adapter", export)
        final = export / "retail.gguf"
        if path != final:
            path.replace(final)
        steps.mark(export, {"adapter": final.name, "bytes": final.stat().st_size})
    summary["export"] = json.loads((export / ".done").read_text())

    reader = out / "reader"
    if steps.todo(reader):
        console.rule("5/5 learned reader")
        write_reader_data(s.db, out / "reader-data", s.reader_messages, seed=s.seed)
        report = train_reader(ReaderSettings(data=out / "reader-data", out=reader, seed=s.seed))
        for member in range(s.answer_members):
            tune_answer(AnswerTuning(data=out / "reader-data", base=reader, out=reader, replies=packaged_replies(),
                                     reply_weight=3, seed=s.seed + member))
        if s.requests_messages:
            write_reader_data(s.db, out / "requests-data", s.requests_messages, seed=s.seed + 7)
            tune_requests(RequestsTuning(data=out / "requests-data", base=reader, out=reader))
        held = report["evaluations"]["training wording, held-out texts"]
        steps.mark(reader, {k: held[k] for k in ("requests_exact", "answer_accuracy", "false_yes", "choice_accuracy")})
    summary["reader"] = json.loads((reader / ".done").read_text())
    summary["minutes"] = round((time.time() - started) / 60, 1)

    if s.install:
        target = installed_adapter_dir()
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export / "retail.gguf", target / "retail.gguf")
        (target / "reader").mkdir(exist_ok=True)
        for name in ("reader.json", "reader.npz", "reader_report.json"):
            shutil.copyfile(reader / name, target / "reader" / name)
        (target / "retail.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        summary["installed"] = str(target / "retail.gguf")
        console.print(f"installed -> {target / 'retail.gguf'} (the packaged `retail` spec uses it)")
    return summary
