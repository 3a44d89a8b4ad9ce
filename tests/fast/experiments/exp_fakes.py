"""Fakes of the experiments' heavy steps (export, quantize, benchmark, perplexity, data, training, tau runs).

Each writes the files the real step writes, plausibly, and records its call in ``calls`` so a test can
assert what ran. The tau fake writes a real run directory (run.json + episodes.jsonl), so the evals
report and the paired comparison run for real on it.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

# tests/fast/experiments/<this file> -> the repo is three folders up; the data lives next to it.
REAL_DB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail" / "db.json"
SIZES = {"F16": 270_000, "Q8_0": 145_000, "Q4_K_M": 90_000, "Q3_K_M": 75_000, "Q5_K_M": 100_000}
PERPLEXITY = {"F16": 10.0, "Q8_0": 10.01, "Q4_K_M": 10.4, "Q3_K_M": 11.5, "Q5_K_M": 10.1}


def make_suite(folder: Path, n: int = 20) -> Path:  # 6 held-out tasks
    from agentspec.evals.generate import generate_suite

    generate_suite(REAL_DB, folder, n, seed=0)
    return folder


def make_adapter(folder: Path, prompt: str | None = None) -> Path:
    """A `train lora --out` folder: adapter/ (config + weights), train.json -> data/card.json."""
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    data = folder.parent / "data"
    data.mkdir(exist_ok=True)
    (data / "card.json").write_text(json.dumps({"settings": {"prompt": prompt}}))
    (folder / "train.json").write_text(json.dumps({"settings": {"data": str(data)}, "base_gguf": "base.gguf"}))
    return folder


def _episode(task_id: str, trial: int, reward: float) -> dict[str, Any]:
    return {"task_id": task_id, "trial": trial, "seed": 0, "category": "cancel", "reward": reward,
            "db_match": reward == 1.0, "communicate_ok": True, "missing_info": [], "reasons": [],
            "termination": "user_stop", "error": None, "agent_turns": 3, "steps": 4, "valid_steps": 4,
            "invalid_steps": 0, "valid_step_share": 1.0, "hallucinated_ids": [], "policy_violations": [],
            "prompt_tokens": 100, "completion_tokens": 10, "seconds": 1.0, "agent_seconds_per_turn": 0.3,
            "tool_calls": {"get_order_details": {"calls": 1, "errors": 0}}, "messages": []}


def fake_run_suite(calls: list, success: Callable[[Any, int], bool], fail_on: str | None = None):
    """run_suite writing a real run dir; ``success(spec, task index)``; raises KeyboardInterrupt on ``fail_on``."""
    def run_suite(tasks, db_path, agent_factory, user_factory, trials, out_dir, workers=1, max_turns=30,
                  progress=True, seed=0):
        from agentspec.spec import load_spec

        spec = load_spec(dict(agent_factory.options)["spec"])
        calls.append(("tau", spec.name))
        if fail_on and fail_on in spec.name:
            raise KeyboardInterrupt
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps({
            "task_ids": [t.id for t in tasks], "trials": trials, "max_turns": max_turns, "seed": seed,
            "agent": repr(agent_factory), "user": repr(user_factory), "categories": ["cancel"] * len(tasks)}))
        with open(out / "episodes.jsonl", "a") as f:  # appends, like the harness: a stale run dir shows
            for i, t in enumerate(tasks):
                for trial in range(trials):
                    f.write(json.dumps(_episode(t.id, trial, float(success(spec, i)))) + "\n")
        return SimpleNamespace(out_dir=out)

    return run_suite


def patch_compression(monkeypatch, calls: list, fail_on: str | None = None) -> None:
    import agentspec.evals.harness as harness
    import agentspec.evals.perplexity as perplexity_module
    import agentspec.experiments._bench as bench
    import agentspec.runtime.quantize as quantize
    import agentspec.train.export as export

    def export_merged(adapter_dir, out, quants=(), *, base=None, progress=None):
        calls.append(("export", Path(adapter_dir).name, tuple(quants)))
        out.mkdir(parents=True, exist_ok=True)
        (out / "merged.F16.gguf").write_bytes(b"GGUF" + b"\0" * SIZES["F16"])
        return {"F16": out / "merged.F16.gguf"}

    def quantize_gguf(source, target, quant_type, *, n_threads=None):
        calls.append(("quantize", quant_type))
        assert Path(source).name == "merged.F16.gguf"
        target.write_bytes(b"GGUF" + b"\0" * SIZES[quant_type])
        return target

    def benchmark(path, *, threads=1, prompt_tokens=512, decode_tokens=64, repeats=3):
        calls.append(("bench", Path(path).name))
        size = Path(path).stat().st_size
        return {"prompt_tokens_per_s": 1e8 / size, "decode_tokens_per_s": 1e7 / size, "prompt_tokens": prompt_tokens,
                "decode_tokens": decode_tokens, "repeats": repeats, "threads": threads, "runs": []}

    class Scorer:
        def __init__(self, model):
            self.name = Path(model).name

    def load_scorer(*, model=None, threads=None, n_ctx=None, **_):
        calls.append(("scorer", Path(model).name, n_ctx))
        return Scorer(model)

    def perplexity(documents, scorer, *, window=None, stride=None, max_tokens_per_doc=None, on_document=None):
        assert documents, "the held-out corpus is empty"
        on_document(len(documents), 100)
        ppl = PERPLEXITY[scorer.name.removeprefix("merged.").removesuffix(".gguf")]
        return perplexity_module.PerplexityResult(perplexity=ppl, mean_nll=2.3, tokens=100 * len(documents),
                                                  documents=len(documents), seconds=0.1, window=window,
                                                  stride=window // 2, model=scorer.name)

    def success(spec, i):  # F16 and Q8_0 solve every task; the 3-bit model every other one
        return "q3" not in spec.name or i % 2 == 0

    monkeypatch.setattr(export, "export_merged", export_merged)
    monkeypatch.setattr(quantize, "quantize_gguf", quantize_gguf)
    monkeypatch.setattr(bench, "benchmark", benchmark)
    monkeypatch.setattr(perplexity_module, "load_scorer", load_scorer)
    monkeypatch.setattr(perplexity_module, "perplexity", perplexity)
    monkeypatch.setattr(harness, "run_suite", fake_run_suite(calls, success, fail_on))


def patch_ablation(monkeypatch, calls: list) -> None:
    import agentspec.evals.harness as harness
    import agentspec.train.data as data
    import agentspec.train.export as export
    import agentspec.train.lora as lora

    def generate_data(settings):
        out = Path(settings.out)
        reused = (out / "dialogues.jsonl").read_text() if (out / "dialogues.jsonl").exists() else None
        calls.append(("data", settings, reused))
        out.mkdir(parents=True, exist_ok=True)
        (out / "meta.json").write_text(json.dumps({"seed": settings.seed, "noise_rate": settings.noise_rate}))
        if reused is None:
            (out / "dialogues.jsonl").write_text(json.dumps({"id": "d000000", "made_for": out.parent.name}) + "\n")
        kept = settings.n - (0 if not settings.verify else 3)
        (out / "train.jsonl").write_text(json.dumps({"verified": settings.verify}) + "\n")
        (out / "valid.jsonl").write_text(json.dumps({"arm": "verified" if settings.verify else "unverified"}) + "\n")
        card = {"counts": {"rejected_without_noise": 0}, "rejections": {"goal_state": 2, "policy": 1},
                "noise": {"wrong_item": {"dialogues": 3, "caught": 3}}}
        return SimpleNamespace(dialogues=settings.n, kept=kept, rejected=3, train_examples=kept * 5,
                               valid_examples=5, card=card)

    def train_lora(settings):
        calls.append(("lora", settings))
        out = Path(settings.out)
        (out / "adapter").mkdir(parents=True, exist_ok=True)
        valid = json.loads((Path(settings.data) / "valid.jsonl").read_text())
        train = json.loads((Path(settings.data) / "train.jsonl").read_text())
        return {"steps": settings.steps, "examples": 10, "sequences": 5, "valid_examples": 1,
                "train_loss_last": 0.3, "valid_loss": 0.4 if train["verified"] else 0.55, "valid_from": valid["arm"],
                "seconds": 1.0, "target_tokens_per_s": 100.0}

    def export_adapter(adapter_dir, out, *, base=None):
        calls.append(("export", Path(adapter_dir).parent.parent.name))
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter.gguf").write_bytes(b"GGUF-adapter")
        return out / "adapter.gguf"

    def success(spec, i):  # verified adapter: every task; unverified: one in three; no adapter: none
        if not spec.adapters:
            return False
        return "unverified" not in spec.adapters[0].path or i % 3 == 0

    monkeypatch.setattr(data, "generate_data", generate_data)
    monkeypatch.setattr(lora, "train_lora", train_lora)
    monkeypatch.setattr(export, "export_adapter", export_adapter)
    monkeypatch.setattr(harness, "run_suite", fake_run_suite(calls, success))
