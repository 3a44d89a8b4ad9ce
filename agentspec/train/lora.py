"""LoRA training of a local GGUF base model on step-format dialogues (``agentspec train lora``).

Contract:
- The base GGUF is loaded into transformers dequantized (``agentspec.runtime.transformers.load_hf``,
  cached as safetensors) and wrapped with a peft LoRA (default r=8, alpha=16 on q/k/v/o).
- Examples are tokenized exactly as the llama.cpp backend will see them (``_examples``); the loss is
  the mean cross-entropy over the assistant target tokens only (token-weighted over the batch). The
  LM head runs only at those positions: the 49k-vocabulary projection of every prompt token would be
  a fifth of the compute, gigabytes of logits, and none of the signal. A dialogue's turns are packed
  into one sequence where their tokens allow (``_examples.pack_dialogues``).
- Memory is bounded by ``micro_tokens`` padded tokens per forward pass (a batch is split and its
  gradients accumulated), not by ``batch``. Real retail prompts are ~3.5k tokens, so ``max_len`` is
  8192 by default; longer turns are skipped and counted in ``train.json``.
- Time: an epoch-based run (no ``steps``) that would overrun ``budget_minutes`` at the pace of its
  first 3 steps trains fewer steps (said on the console, the cosine schedule fitted to the new end).
  With ``steps`` given, it trains exactly that many.
- Resumable: every ``checkpoint_every`` steps one file ``checkpoint.pt`` (adapter, optimizer,
  scheduler, step, RNG states, loss log) is written atomically. A run whose out dir holds a
  checkpoint continues from it (``restart=True`` starts over); resuming gives bit-identical final
  weights to an uninterrupted run (tests/fast/train). Ctrl-C saves a checkpoint before exiting.
- Outputs in ``out``: ``adapter/`` (peft format), ``train.json`` (settings, base GGUF, figures),
  ``loss.json`` and ``loss.png`` (train loss per step, held-out loss at each evaluation).
- Device: CUDA when available (bf16 autocast there), else CPU in fp32. On this 2-core CPU bf16
  autocast measured ~3x slower than fp32 (27 vs 90 s per step of 4 short sequences, 2 threads), so
  ``autocast="auto"`` keeps fp32 on CPU. On cores shared with other jobs, 2 OpenMP threads measured
  ~8x slower than ``threads=1`` (spinning threads); set ``threads`` accordingly.

Not here: GGUF export (``export.py``), data synthesis (``data.py``).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from agentspec.errors import AgentSpecError
from agentspec.train._examples import (
    IGNORE,
    LlamaCppTokenizer,
    Sequence,
    collate,
    expert_matcher,
    length_grouped_batches,
    pack_dialogues,
    read_jsonl,
)
from agentspec.train._report import line_chart, write_json

__all__ = ["LoraSettings", "BaseBundle", "load_base", "train_lora", "target_loss"]

# Settings that must match for a checkpoint to be resumed.
_RESUME_KEYS = ("base", "expert", "rank", "alpha", "targets", "layers", "batch", "max_len", "seed", "pack", "lr")
LOG_EVERY = 5  # steps between progress lines when the output is not a terminal (a log file)


@dataclass
class LoraSettings:
    """Settings of one LoRA training run (each field is a CLI flag of ``agentspec train lora``)."""

    data: str
    out: str
    base: str = "smollm2-135m"
    expert: str | None = None  # NAME or NAME=glob|glob over the intent field; None = all examples
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    layers: int | None = None  # adapt only the top N decoder layers (None: all). Backward then stops there.
    epochs: float = 1.0
    steps: int | None = None  # overrides epochs
    lr: float = 2e-4
    warmup: int = 10
    batch: int = 4  # sequences per optimizer step
    micro_tokens: int = 8192  # padded tokens per forward pass: bounds memory whatever the batch (~0.85 MB/token)
    max_len: int = 8192
    budget_minutes: float | None = 40.0  # epoch-based runs only: fewer steps if the measured pace needs more
    pack: bool = True
    eval_every: int = 100
    eval_sequences: int | None = 16  # held-out loss on this many validation sequences (None: all of them)
    checkpoint_every: int = 25
    seed: int = 0
    device: str = "auto"
    autocast: str = "auto"  # auto | bf16 | off
    threads: int | None = None
    restart: bool = False


@dataclass
class BaseBundle:
    """What training needs from the base model: the HF model, the tokenizer and the prompt renderer."""

    model: Any
    tokenizer: Any  # _examples.Tokenizer
    render: Callable[[list[dict[str, Any]]], str]
    gguf_path: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def load_base(name: str, device: str) -> BaseBundle:
    """The GGUF named ``name`` dequantized into transformers, with llama.cpp's tokenizer and template."""
    import torch

    from agentspec.runtime.llamacpp import _template_for
    from agentspec.runtime.models import resolve_model
    from agentspec.runtime.transformers import load_hf

    path, entry = resolve_model(name)
    model, _ = load_hf(path, device, torch.float32)
    tok = LlamaCppTokenizer(path)
    template = _template_for(tok._llm, entry, None, path)
    tok.bos_token = template.bos_token
    tok.eot_id = _end_of_turn(template, tok)
    meta = tok._llm.metadata or {}
    arch = meta.get("general.architecture", "llama")
    info = {"architecture": arch, "n_head": int(meta.get(f"{arch}.attention.head_count", 0)),
            "n_head_kv": int(meta.get(f"{arch}.attention.head_count_kv", 0) or meta.get(f"{arch}.attention.head_count", 0))}
    return BaseBundle(model, tok, lambda m: template.render(m, add_generation_prompt=True), str(path), info)


def _end_of_turn(template: Any, tok: LlamaCppTokenizer) -> int:
    """The token the template closes an assistant message with (``<|im_end|>``, ``<end_of_turn>``).

    Read from the template itself: llama.cpp's own EOT guess for SmolLM2 is ``<|endoftext|>``, which
    the chat template never emits, so a model trained on it would not stop where inference expects.
    """
    marker = "\u2063MARK\u2063"
    text = template.render([{"role": "user", "content": "u"}, {"role": "assistant", "content": marker}],
                           add_generation_prompt=False)
    after = text.split(marker, 1)[1] if marker in text else ""
    ids = tok._llm.tokenize(after.encode("utf-8"), add_bos=False, special=True) if after.strip() else []
    return ids[0] if ids and ids[0] != tok.text(after)[:1][0] else tok.eot_id


def target_loss(model: Any, ids: Any, mask: Any, labels: Any) -> tuple[Any, int]:
    """(mean cross-entropy over target tokens, their count). Logits only where a label exists."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # Without padding, no mask: SDPA then takes its causal kernel instead of materializing a [B, h, T, T]
    # mask (about 1.4x the time of a 2,500-token forward on this CPU).
    mask = None if bool(mask.all()) else mask
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, T, H]
    # Position t predicts token t+1: shift the labels left by one.
    shifted = labels[:, 1:]
    picked = hidden[:, :-1][shifted != IGNORE]  # [N, H]
    logits = base.get_output_embeddings()(picked).float()  # [N, V]
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    gold = shifted[shifted != IGNORE]
    return torch.nn.functional.cross_entropy(logits, gold, reduction="mean"), int(gold.numel())


def train_lora(s: LoraSettings, *, base: BaseBundle | None = None,
               on_step: Callable[[int, float], None] | None = None, quiet: bool = False) -> dict[str, Any]:
    """Train (or resume) a LoRA; returns the summary also written to ``out/train.json``."""
    import torch

    device = s.device if s.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    threads_before = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        return _train(s, base, on_step, quiet, device)
    finally:
        torch.set_num_threads(threads_before)  # a global of the process: give it back


def _train(s: LoraSettings, base: BaseBundle | None, on_step: Callable[[int, float], None] | None, quiet: bool,
           device: str) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    use_bf16 = s.autocast == "bf16" or (s.autocast == "auto" and device == "cuda")

    # 1. Data: encode, pack, and split into the same batches every time for a given seed.
    base = base or load_base(s.base, device)
    train_rows, valid_rows = _select(read_jsonl(Path(s.data) / "train.jsonl"), s.expert), []
    if (Path(s.data) / "valid.jsonl").exists():
        valid_rows = _select(read_jsonl(Path(s.data) / "valid.jsonl"), s.expert)
    train, skipped = pack_dialogues(train_rows, base.render, base.tokenizer, max_len=s.max_len, pack=s.pack)
    valid, _ = pack_dialogues(valid_rows, base.render, base.tokenizer, max_len=s.max_len, pack=s.pack)
    # A fixed sample (evenly spaced, so every length is represented): a full pass over a few hundred
    # thousand held-out tokens costs as much as a dozen training steps on a CPU.
    if s.eval_sequences is not None and len(valid) > s.eval_sequences:
        stride = len(valid) / s.eval_sequences
        valid = [valid[int(i * stride)] for i in range(s.eval_sequences)]
    if not train:
        raise AgentSpecError(
            f"No training example fits (rows {len(train_rows)}, over --max-len {s.max_len}: {skipped}).",
            hint="Raise --max-len, or check --expert matches some intents in the data.", code="train_data")
    per_epoch = math.ceil(len(train) / s.batch)
    plan = {"total": s.steps or max(1, math.ceil(s.epochs * per_epoch))}  # may shrink to the time budget

    # 2. Model, optimizer, schedule (linear warm-up, cosine decay to 10%).
    torch.manual_seed(s.seed)
    n_layers = int(base.model.config.num_hidden_layers)
    if s.layers is not None and not 1 <= s.layers <= n_layers:
        raise AgentSpecError(f"--layers {s.layers}: the model has {n_layers} decoder layers",
                             hint=f"Pass 1..{n_layers}, or leave it out to adapt every layer.", code="train_layers")
    # Only the top layers: autograd then never goes below the lowest adapted layer, which cuts the
    # backward pass (two thirds of CPU training time) in proportion; the frozen lower layers still run forward.
    top = None if s.layers is None else list(range(n_layers - s.layers, n_layers))
    config = LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=list(s.targets),
                        layers_to_transform=top, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base.model, config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0)
    warm = min(s.warmup, max(1, plan["total"] // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(  # reads plan["total"] at each step: a shrunk plan reshapes the decay
        opt, lambda i: (i + 1) / warm if i < warm else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warm) / max(1, plan["total"] - warm)))))

    # 3. Resume from the checkpoint when there is one.
    ckpt_path = out / "checkpoint.pt"
    step, log, evals, elapsed = 0, [], [], 0.0
    if ckpt_path.exists() and not s.restart:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        _check_resumable(state["settings"], s, ckpt_path)
        set_peft_model_state_dict(model, state["adapter"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, log, evals, elapsed = state["step"], state["log"], state["evals"], state["elapsed"]
        plan["total"] = s.steps or state.get("total", plan["total"])  # an explicit --steps extends or cuts a run
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if state["rng"].get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])  # dropout draws from the CUDA generator there

    def save_checkpoint() -> None:
        state = {"settings": asdict(s), "adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "step": step, "total": plan["total"], "log": log, "evals": evals,
                 "elapsed": elapsed + time.perf_counter() - t0,
                 "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                         "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else None}}
        torch.save(state, out / "checkpoint.pt.partial")
        os.replace(out / "checkpoint.pt.partial", ckpt_path)

    def run_eval() -> float | None:
        if not valid:
            return None
        loss = evaluate(model, valid, s.batch, device, use_bf16, base.tokenizer.eot_id)
        evals.append({"step": step, "valid_loss": loss})
        return loss

    # 4. The loop: one batch per step, epoch order from (seed + epoch).
    t0 = time.perf_counter()
    model.train()
    order: dict[int, list[list[int]]] = {}
    progress = _progress(quiet)
    try:
        with progress:
            task = progress.add_task("LoRA", total=plan["total"], completed=step, loss=float("nan"))
            while step < plan["total"]:
                epoch = step // per_epoch
                batches = order.setdefault(epoch, length_grouped_batches(train, s.batch, s.seed + epoch))
                batch = [train[i] for i in batches[step % per_epoch]]
                loss, n_tok, n_in = _accumulate(model, batch, s.micro_tokens, device, use_bf16, base.tokenizer.eot_id)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                log.append({"step": step, "loss": loss, "lr": sched.get_last_lr()[0], "target_tokens": n_tok,
                            "input_tokens": n_in, "time": round(elapsed + time.perf_counter() - t0, 3)})
                if step == 3 and not s.steps and s.budget_minutes:
                    _fit_budget(plan, log, s.budget_minutes, progress)
                progress.update(task, advance=1, loss=loss, total=plan["total"])
                if not quiet and not progress.console.is_terminal and step % LOG_EVERY == 0:
                    # A bar redraws in place and shows nothing in a log file: a line per LOG_EVERY steps does.
                    progress.console.print(f"step {step}/{plan['total']} loss {loss:.3f} "
                                           f"{log[-1]['time']:.0f} s", highlight=False)
                    progress.console.file.flush()  # a file is block-buffered: the line would wait for kilobytes
                if s.eval_every and step % s.eval_every == 0 and step < plan["total"]:
                    run_eval()
                    model.train()
                if s.checkpoint_every and step % s.checkpoint_every == 0:
                    save_checkpoint()
                if on_step is not None:
                    on_step(step, loss)
    except KeyboardInterrupt:
        save_checkpoint()
        raise
    save_checkpoint()
    elapsed += time.perf_counter() - t0

    # 5. Held-out loss, adapter, reports.
    final_valid = run_eval() if (not evals or evals[-1]["step"] != step) else evals[-1]["valid_loss"]
    model.save_pretrained(str(out / "adapter"))
    seconds = log[-1]["time"] if log else 0.0
    summary = {
        "settings": asdict(s), "base_gguf": base.gguf_path, "base_info": base.info, "device": device,
        "bf16_autocast": use_bf16, "steps": step, "examples": len(train_rows), "sequences": len(train),
        "skipped_over_max_len": skipped, "valid_examples": len(valid_rows),
        "train_loss_last": _mean([r["loss"] for r in log[-10:]]), "valid_loss": final_valid,
        "seconds": round(seconds, 1),
        "target_tokens_per_s": round(sum(r["target_tokens"] for r in log) / max(seconds, 1e-9), 1),
        "input_tokens_per_s": round(sum(r["input_tokens"] for r in log) / max(seconds, 1e-9), 1),
    }
    write_json(out / "train.json", summary)
    write_json(out / "loss.json", {"train": log, "valid": evals})
    series = {"train (per step)": ([r["step"] for r in log], [r["loss"] for r in log])}
    if evals:
        series["held-out"] = ([e["step"] for e in evals], [e["valid_loss"] for e in evals])
    line_chart(out / "loss.png", series, title=f"LoRA r={s.rank} on {Path(s.base).name}", xlabel="step", ylabel="loss (target tokens)")
    return summary


def _accumulate(model: Any, batch: list[Sequence], micro_tokens: int, device: str, bf16: bool,
                pad_id: int) -> tuple[float, int, int]:
    """Forward/backward one optimizer batch in micro-batches of at most ``micro_tokens`` padded tokens.

    Each micro-batch's mean loss is weighted by its share of the batch's target tokens, so the
    gradient is that of the token-weighted mean over the whole batch, as if run in one pass.
    Returns (batch loss, target tokens, input tokens).
    """
    import torch

    batch = sorted(batch, key=lambda q: len(q.ids))  # similar lengths together: less padding
    chunks: list[list[Sequence]] = [[]]
    for seq in batch:
        if chunks[-1] and (len(chunks[-1]) + 1) * len(seq.ids) > micro_tokens:
            chunks.append([])
        chunks[-1].append(seq)
    n_total = sum(q.n_target for q in batch)
    loss_sum, n_input = 0.0, 0
    for chunk in chunks:
        ids, mask, labels = (t.to(device) for t in collate(chunk, pad_id))
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss, n = target_loss(model, ids, mask, labels)
        (loss * (n / n_total)).backward()
        loss_sum += loss.item() * n
        n_input += int(mask.sum())
    return loss_sum / n_total, n_total, n_input


def _fit_budget(plan: dict[str, int], log: list[dict[str, Any]], minutes: float, progress: Any) -> None:
    """Shrink the planned steps when the pace of the first steps would overrun the time budget."""
    pace = log[-1]["time"] / len(log)  # seconds per step so far
    affordable = int(minutes * 60 / pace)
    if affordable < plan["total"]:
        progress.console.print(f"[yellow]{plan['total']} steps at {pace:.1f} s/step exceed the {minutes:g}-minute budget: "
                               f"training {max(affordable, 4)} steps (--budget-minutes 0 to train them all).")
        plan["total"] = max(affordable, 4)


def evaluate(model: Any, seqs: list[Sequence], batch: int, device: str, bf16: bool, pad_id: int) -> float:
    """Token-weighted mean target loss over ``seqs`` (no dropout, no gradients)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
        ordered = sorted(range(len(seqs)), key=lambda i: len(seqs[i].ids))
        for j in range(0, len(ordered), batch):
            ids, mask, labels = (t.to(device) for t in collate([seqs[i] for i in ordered[j:j + batch]], pad_id))
            loss, n = target_loss(model, ids, mask, labels)
            total += float(loss) * n
            count += n
    return total / max(count, 1)


def _select(rows: list[dict[str, Any]], expert: str | None) -> list[dict[str, Any]]:
    if not expert:
        return rows
    _, matches = expert_matcher(expert)
    return [r for r in rows if matches(r.get("intent"))]


def _check_resumable(saved: dict[str, Any], s: LoraSettings, path: Path) -> None:
    now = asdict(s)
    diff = [k for k in _RESUME_KEYS if (tuple(saved.get(k)) if isinstance(saved.get(k), list) else saved.get(k)) != now[k]]
    if diff:
        raise AgentSpecError(
            f"{path} was written with different settings ({', '.join(f'{k}: {saved.get(k)!r} -> {now[k]!r}' for k in diff)}).",
            hint="Use the original settings to resume, or --restart to start over (the checkpoint is overwritten).",
            code="checkpoint_mismatch")


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def _progress(quiet: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    disable=quiet, transient=False)
