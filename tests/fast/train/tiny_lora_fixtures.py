"""Helpers for the fast LoRA tests: a tiny random llama, a character tokenizer, a toy data folder.

No real model: the tokenizer maps characters to ids, and the special string ``<e>`` (end of turn) to
EOT_ID, so packing and masking work exactly as with a real template.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agentspec.runtime.template import ChatTemplate

EOT_ID = 3
VOCAB = 128
TEMPLATE = ("{% for m in messages %}<s>{{ m.role }}\n{{ m.content }}<e>\n{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


class CharTokenizer:
    eot_id = EOT_ID

    def prompt(self, text: str) -> list[int]:
        ids: list[int] = []
        for i, part in enumerate(text.split("<e>")):
            if i:
                ids.append(EOT_ID)
            ids += self.text(part)
        return ids

    def text(self, text: str) -> list[int]:
        return [4 + ord(c) % (VOCAB - 4) for c in text]


def render(messages):
    return ChatTemplate(TEMPLATE).render(messages, add_generation_prompt=True)


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, initializer_range=0.2, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config)


def tiny_bundle(seed: int = 0):
    from agentspec.train.lora import BaseBundle

    return BaseBundle(tiny_llama(seed), CharTokenizer(), render, None, {"architecture": "llama", "n_head": 4, "n_head_kv": 2})


INTENTS = {
    "return_items": ["I want to return the {x} I got", "please take back my {x}, it is broken", "refund for the {x}"],
    "cancel_order": ["cancel my order with the {x}", "I no longer need the {x}, cancel it", "stop the {x} order"],
}
THINGS = ["lamp", "kettle", "jacket", "boots", "tent", "laptop", "watch", "speaker", "mug", "chair", "desk", "bike"]


def write_dialogues(folder: Path, n_train: int = 24, n_valid: int = 12, seed: int = 0) -> Path:
    """Two-turn dialogues of two intents; turn 2's messages contain turn 1's target (packable)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_valid)):
        with (folder / f"{split}.jsonl").open("w") as fh:
            for d in range(n):
                intent = list(INTENTS)[d % 2]
                thing = THINGS[int(rng.integers(len(THINGS)))]
                user = INTENTS[intent][int(rng.integers(3))].format(x=thing)
                first = [{"role": "system", "content": "sys"}, {"role": "user", "content": user}]
                t1 = json.dumps({"tool": "find_user", "arguments": {"q": thing}})
                second = first + [{"role": "assistant", "content": t1}, {"role": "user", "content": "ok"}]
                t2 = json.dumps({"reply": f"done with {thing}"})
                for turn, (msgs, target) in enumerate(((first, t1), (second, t2))):
                    fh.write(json.dumps({"messages": msgs, "target": target, "dialogue_id": f"{split}-{d}",
                                         "intent": intent, "turn": turn}) + "\n")
    return folder
