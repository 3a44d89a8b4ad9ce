"""Training benchmark: agentspec's LoRA loop against a plain transformers + peft loop, side by side.

Same base model (SmolLM2-135M, dequantized), same rows, same tokenization (prompt by the chat template,
target + end-of-turn, loss on the target only), same LoRA (r=8 on q/k/v/o), same optimizer and learning
rate, one epoch each, in one process. The plain loop is what one writes from the peft docs: one
sequence per turn, padded batches, ``model(input_ids, attention_mask, labels)``.
What ours does differently: turns of a dialogue that share their prefix are packed into one sequence,
batches are grouped by length, and the LM head runs only at target positions.

Prints context lines, then as its LAST line one JSON object:
- tokens_per_s_ratio   supervised (target) tokens per second, ours ÷ plain (goal >= 1)
- ours_s / plain_s     wall time of the epoch
- *_input_tokens       tokens that went through the model (packing reduces them)
- bf16_vs_fp32         (with --autocast-check) ours with bf16 autocast ÷ ours in fp32, tokens/s

Measured here (2 shared cores, --threads 1, synthetic data, 8 turns, batch 2): ratio 5.55 (ours 42.9 s,
plain 236.9 s; 2,702 vs 10,268 input tokens: packing ~3.8x, LM head at targets only ~1.45x per token).
On the real retail data (the shipped adapter's rows, --rows 24 --batch 1 --threads 1, with another job
on the second core): ratio 1.754 (ours 360.9 s, plain 639.4 s; 10,967 vs 18,781 input tokens, 7 packed
sequences from 24 turns). The plain loop at batch 2 on the real data was OOM-killed at 24 GB (full
logits); ours bounds a forward pass by --micro-tokens.

Usage: python benchmarks/training.py [--data DIR] [--rows 16] [--batch 2] [--threads N] [--autocast-check]
Without --data it builds synthetic multi-turn dialogues with a ~1,500-token system prompt.
--smoke: 2 rows, batch 1, no autocast check (seconds, not figures): what CI runs so it cannot rot.
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

from agentspec.train._examples import IGNORE, collate, encode_example, read_jsonl
from agentspec.train.lora import LoraSettings, load_base, train_lora

POLICY = ("Agents must verify the customer's identity, list the action details and obtain an explicit yes before "
          "any change, and never share another customer's data. ")


def synthetic_data(folder: Path, dialogues: int = 8, turns: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in range(dialogues):
        messages = [{"role": "system", "content": POLICY * 40}, {"role": "user", "content": f"cancel order #W{1000 + d}"}]
        for t in range(turns):
            target = json.dumps({"tool": "get_order_details", "arguments": {"order_id": f"#W{1000 + d}"}, "step": t})
            rows.append({"messages": list(messages), "target": target, "dialogue_id": d, "intent": "cancel", "turn": t})
            messages += [{"role": "assistant", "content": target}, {"role": "user", "content": f"ok {t}"}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def plain_loop(base, rows, batch: int, lr: float) -> dict:
    """The textbook loop: per-turn examples, padded batches, the model's own loss over full logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(base.model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    from agentspec.train._examples import Sequence

    seqs = []
    for row in rows:
        prompt, target = encode_example(row, base.render, base.tokenizer)
        seqs.append(Sequence(prompt + target, [IGNORE] * len(prompt) + target))
    started = time.perf_counter()
    n_target = n_input = 0
    for i in range(0, len(seqs), batch):
        ids, mask, labels = collate(seqs[i:i + batch], base.tokenizer.eot_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad()
        n_target += int((labels[:, 1:] != IGNORE).sum())
        n_input += int(mask.sum())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "target_tokens": n_target, "input_tokens": n_input, "loss": loss.item()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--rows", type=int, default=16, help="training rows (turns) used by both loops")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--autocast-check", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="2 rows, batch 1 (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.batch, args.autocast_check = 2, 1, False
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="agentspec-bench-"))
    source = Path(args.data) if args.data else synthetic_data(tmp / "synthetic")
    # Whole dialogues first, so packing sees complete conversations: the first --rows turns in dialogue order.
    rows = sorted(read_jsonl(source / "train.jsonl"), key=lambda r: (str(r.get("dialogue_id")), r.get("turn") or 0))[: args.rows]
    data = tmp / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    base = load_base("smollm2-135m", "cpu")
    pristine = copy.deepcopy(base.model)
    print(f"{len(rows)} rows from {source}, batch {args.batch}, torch threads {torch.get_num_threads()}")

    plain = plain_loop(base, rows, args.batch, 2e-4)
    plain_tps = plain["target_tokens"] / plain["seconds"]
    print(f"plain transformers+peft: {plain['seconds']:.1f} s, {plain_tps:.1f} target tok/s, "
          f"{plain['input_tokens']} input tokens")

    def ours(autocast: str) -> dict:
        base.model = copy.deepcopy(pristine)
        settings = LoraSettings(data=str(data), out=str(tmp / f"ours-{autocast}"), batch=args.batch, epochs=1,
                                max_len=args.max_len, checkpoint_every=10**6, eval_every=0, autocast=autocast, lr=2e-4)
        return train_lora(settings, base=base, quiet=True)

    mine = ours("off")
    steps_tokens = json.loads((tmp / "ours-off" / "loss.json").read_text())["train"]
    ours_input = sum(r["input_tokens"] for r in steps_tokens)
    ours_target = sum(r["target_tokens"] for r in steps_tokens)
    print(f"agentspec: {mine['seconds']:.1f} s, {mine['target_tokens_per_s']:.1f} target tok/s, {ours_input} input tokens, "
          f"{mine['sequences']} sequences from {len(rows)} turns")
    if ours_target != plain["target_tokens"]:
        print(f"WARNING: target tokens differ (ours {ours_target}, plain {plain['target_tokens']})")
    result = {
        "tokens_per_s_ratio": round(mine["target_tokens_per_s"] / plain_tps, 3),
        "ours_target_tok_s": mine["target_tokens_per_s"], "plain_target_tok_s": round(plain_tps, 1),
        "ours_s": mine["seconds"], "plain_s": round(plain["seconds"], 1),
        "ours_input_tokens": ours_input, "plain_input_tokens": plain["input_tokens"],
        "target_tokens": ours_target, "rows": len(rows), "threads": torch.get_num_threads(),
    }
    if args.autocast_check:
        bf16 = ours("bf16")
        result["bf16_vs_fp32"] = round(bf16["target_tokens_per_s"] / mine["target_tokens_per_s"], 3)
        print(f"bf16 autocast: {bf16['seconds']:.1f} s ({result['bf16_vs_fp32']}x fp32)")
    result["smoke"] = args.smoke
    print(json.dumps(result))


if __name__ == "__main__":
    main()
