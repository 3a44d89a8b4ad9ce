"""Training examples: JSONL turns -> token ids with a loss mask -> padded batches.

Contract:
- A line of ``train.jsonl`` / ``valid.jsonl`` is ``{"messages": [...], "target": "<step text>",
  "dialogue_id": ..., "intent": ..., "turn": ...}``. The prompt is the model's chat template applied
  to ``messages`` with ``add_generation_prompt=True`` and tokenized exactly as the llama.cpp backend
  tokenizes it (``LlamaCppChatModel.prompt_tokens``); the label sequence is the target's tokens plus
  the template's end-of-turn token. Loss is taken on those label tokens only (``IGNORE`` elsewhere).
- Packing (``pack_dialogues``): when turn k's prompt + target is a token prefix of turn k+1's prompt,
  both become one sequence with two supervised spans. Causal attention makes that exactly the same
  loss as two separate examples, for the price of one forward pass over the shared history. A turn
  whose tokens differ (the template rendered the earlier step differently) stays on its own.
- Prompts longer than ``max_len`` are skipped and counted, never truncated: a truncated prompt is not
  what the model sees at inference time.
- Expert selection (``expert_matcher``): ``NAME`` or ``NAME=glob|glob`` over the ``intent`` field.

Not here: the training loop (``lora.py``), the data synthesis (``data.py``).
"""
from __future__ import annotations

import fnmatch
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from agentspec.errors import AgentSpecError

__all__ = [
    "IGNORE",
    "Tokenizer",
    "LlamaCppTokenizer",
    "Sequence",
    "read_jsonl",
    "expert_matcher",
    "encode_example",
    "pack_dialogues",
    "length_grouped_batches",
    "collate",
]

IGNORE = -100  # label value that torch's cross_entropy skips


class Tokenizer(Protocol):
    eot_id: int

    def prompt(self, text: str) -> list[int]: ...

    def text(self, text: str) -> list[int]: ...


class LlamaCppTokenizer:
    """llama.cpp's own tokenizer for a GGUF (vocab only: loads in well under a second)."""

    def __init__(self, gguf_path: Path, bos_token: str = ""):
        import llama_cpp

        self._llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        self.bos_token = bos_token
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        eot = int(llama_cpp.llama_vocab_eot(vocab))
        # End of turn: <|im_end|> for SmolLM2, <end_of_turn> for Gemma; EOS where a model has no EOT.
        self.eot_id = eot if eot >= 0 else int(self._llm.token_eos())

    def prompt(self, text: str) -> list[int]:
        add_bos = not (self.bos_token and text.startswith(self.bos_token))  # as LlamaCppChatModel does
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def text(self, text: str) -> list[int]:
        # Generated text: no BOS, and special-token strings inside it are plain text.
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def token_text(self, token: int) -> str:
        return self._llm._model.token_get_text(token) if token >= 0 else ""


@dataclass
class Sequence:
    """One training sequence: ids and labels of equal length (labels IGNORE outside targets)."""

    ids: list[int]
    labels: list[int]
    dialogue_id: Any = None
    turns: list[Any] = field(default_factory=list)

    @property
    def n_target(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise AgentSpecError(
            f"Training data not found: {path}",
            hint="Generate it with `agentspec train data --out DIR` (it writes train.jsonl and valid.jsonl).",
            code="train_data",
        )
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AgentSpecError(f"{path}:{n} is not JSON ({exc.msg}).", hint="Each line must be one JSON object.",
                                 code="train_data") from exc
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or not isinstance(row.get("target"), str):
            raise AgentSpecError(f"{path}:{n} lacks a 'messages' list or a 'target' string.",
                                 hint='Expected {"messages": [...], "target": "...", "dialogue_id": ..., "turn": ...}.',
                                 code="train_data")
        rows.append(row)
    return rows


def expert_matcher(spec: str) -> tuple[str, Callable[[Any], bool]]:
    """``"returns=return*|exchange*"`` -> ("returns", predicate on an intent). ``"returns"`` means ``*returns*``."""
    name, _, globs = spec.partition("=")
    name = name.strip()
    patterns = [g.strip() for g in globs.split("|") if g.strip()] or [f"*{name}*"]

    def matches(intent: Any) -> bool:
        intents = intent if isinstance(intent, (list, tuple)) else [intent]
        return any(fnmatch.fnmatchcase(str(i), p) for i in intents if i is not None for p in patterns)

    return name, matches


def encode_example(row: dict[str, Any], render: Callable[[list[dict[str, Any]]], str], tok: Tokenizer) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids + end-of-turn id) for one JSONL row."""
    prompt = tok.prompt(render(row["messages"]))
    target = tok.text(row["target"]) + [tok.eot_id]
    return prompt, target


def pack_dialogues(
    rows: list[dict[str, Any]], render: Callable[[list[dict[str, Any]]], str], tok: Tokenizer, *,
    max_len: int, pack: bool = True,
) -> tuple[list[Sequence], int]:
    """Encode every row; merge consecutive turns of a dialogue when they share the token prefix.

    Returns (sequences, number of rows skipped because prompt + target exceed ``max_len``).
    """
    # 1. Order turns within each dialogue; rows without a dialogue id stay alone.
    order = sorted(range(len(rows)), key=lambda i: (str(rows[i].get("dialogue_id", f"#{i}")), _turn(rows[i]), i))
    sequences: list[Sequence] = []
    skipped = 0
    current: Sequence | None = None
    for i in order:
        row = rows[i]
        prompt, target = encode_example(row, render, tok)
        if len(prompt) + len(target) > max_len:
            skipped += 1
            continue
        did = row.get("dialogue_id", f"#{i}")
        # 2. Extend the running sequence if its ids are exactly the start of this prompt.
        if (pack and current is not None and current.dialogue_id == did
                and len(prompt) + len(target) <= max_len and prompt[: len(current.ids)] == current.ids):
            gap = len(prompt) - len(current.ids)
            current.labels += [IGNORE] * gap + target
            current.ids = prompt + target
            current.turns.append(row.get("turn"))
            continue
        current = Sequence(prompt + target, [IGNORE] * len(prompt) + target, did, [row.get("turn")])
        sequences.append(current)
    return sequences, skipped


def _turn(row: dict[str, Any]) -> float:
    try:
        return float(row.get("turn", 0) or 0)
    except (TypeError, ValueError):
        return 0.0


def length_grouped_batches(seqs: list[Sequence], batch_size: int, seed: int) -> list[list[int]]:
    """Indices of ``seqs`` in batches of similar length (less padding), batch order shuffled by ``seed``.

    Deterministic in (lengths, batch_size, seed): a resumed run recomputes the same epoch order.
    """
    rng = random.Random(seed)
    idx = list(range(len(seqs)))
    rng.shuffle(idx)  # ties in length broken randomly, then sorted by length within chunks of 50 batches
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start:start + chunk], key=lambda i: len(seqs[i].ids))
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(seqs: Iterable[Sequence], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-padded (input_ids, attention_mask, labels) tensors, shape [batch, longest]."""
    import torch

    seqs = list(seqs)
    width = max(len(s.ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, : len(s.ids)] = torch.tensor(s.ids)
        labels[row, : len(s.labels)] = torch.tensor(s.labels)
        mask[row, : len(s.ids)] = 1
    return ids, mask, labels
