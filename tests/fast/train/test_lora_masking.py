"""Loss masking and packing: only the assistant's target tokens count, packing changes nothing."""
from __future__ import annotations

import pytest
import torch

from agentspec.train._examples import IGNORE, collate, encode_example, expert_matcher, pack_dialogues, read_jsonl
from agentspec.train.lora import target_loss
from tiny_lora_fixtures import EOT_ID, CharTokenizer, render, tiny_llama, write_dialogues


@pytest.fixture
def rows(tmp_path):
    return read_jsonl(write_dialogues(tmp_path / "data", n_train=4, n_valid=1) / "train.jsonl")


def test_labels_cover_exactly_the_target_and_end_of_turn(rows):
    tok = CharTokenizer()
    prompt, target = encode_example(rows[0], render, tok)
    assert target == tok.text(rows[0]["target"]) + [EOT_ID]
    assert prompt == tok.prompt(render(rows[0]["messages"]))
    [seq], skipped = pack_dialogues(rows[:1], render, tok, max_len=10_000)
    assert skipped == 0
    assert seq.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert seq.labels[len(prompt):] == target == seq.ids[len(prompt):]


def test_turns_of_a_dialogue_are_packed_into_one_sequence(rows):
    tok = CharTokenizer()
    seqs, _ = pack_dialogues(rows, render, tok, max_len=10_000)
    assert len(seqs) == 4 and all(len(s.turns) == 2 for s in seqs)  # 4 dialogues x 2 turns
    separate, _ = pack_dialogues(rows, render, tok, max_len=10_000, pack=False)
    assert len(separate) == 8
    assert sum(s.n_target for s in seqs) == sum(s.n_target for s in separate)
    # The packed sequence is the last turn's prompt + target; the first target sits inside it, labelled.
    d0 = [r for r in rows if r["dialogue_id"] == seqs[0].dialogue_id]
    first = tok.text(d0[0]["target"]) + [EOT_ID]
    p1 = len(tok.prompt(render(d0[0]["messages"])))
    assert seqs[0].labels[p1:p1 + len(first)] == first


def test_too_long_turns_are_skipped_not_truncated(rows):
    seqs, skipped = pack_dialogues(rows, render, CharTokenizer(), max_len=60)
    assert skipped == 8 and seqs == []


def test_loss_depends_on_target_tokens_only(rows):
    model = tiny_llama()
    seqs, _ = pack_dialogues(rows[:1], render, CharTokenizer(), max_len=10_000)
    ids, mask, labels = collate(seqs, EOT_ID)
    loss, n = target_loss(model, ids, mask, labels)
    # Reference: full logits, cross-entropy at target positions only.
    logits = model(input_ids=ids, attention_mask=mask).logits[0, :-1]
    gold = labels[0, 1:]
    keep = gold != IGNORE
    expected = torch.nn.functional.cross_entropy(logits[keep], gold[keep])
    assert n == seqs[0].n_target
    assert torch.allclose(loss, expected, atol=1e-5)
    # The gradient reaches the logits of target positions only.
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=mask)
    out.logits.retain_grad()
    sel = out.logits[0, :-1][keep]
    torch.nn.functional.cross_entropy(sel, gold[keep]).backward()
    grads = out.logits.grad[0, :-1].abs().sum(-1)
    assert torch.all(grads[~keep] == 0) and torch.all(grads[keep] > 0)


def test_packed_loss_equals_token_weighted_loss_of_separate_turns(rows):
    model = tiny_llama().eval()
    tok = CharTokenizer()
    two = [r for r in rows if r["dialogue_id"] == rows[0]["dialogue_id"]]
    [packed], _ = pack_dialogues(two, render, tok, max_len=10_000)
    separate, _ = pack_dialogues(two, render, tok, max_len=10_000, pack=False)
    with torch.no_grad():
        lp, n_p = target_loss(model, *collate([packed], EOT_ID))
        parts = [target_loss(model, *collate([s], EOT_ID)) for s in separate]
    weighted = sum(float(l) * n for l, n in parts) / sum(n for _, n in parts)
    assert n_p == sum(n for _, n in parts)
    assert float(lp) == pytest.approx(weighted, abs=1e-5)


def test_expert_globs_select_intents():
    name, m = expert_matcher("returns=return*|exchange*")
    assert name == "returns" and m("return_items") and m(["cancel_order", "exchange_items"]) and not m("cancel_order")
    name, m = expert_matcher("cancel")
    assert name == "cancel" and m("cancel_order") and not m(None)


def test_padded_batch_loss_equals_the_unpadded_sequences_alone(rows):
    # A lone sequence runs without an attention mask (SDPA's causal kernel); a padded batch with one.
    model = tiny_llama().eval()
    seqs, _ = pack_dialogues(rows, render, CharTokenizer(), max_len=10_000)
    a, b = seqs[0], next(s for s in seqs if len(s.ids) != len(seqs[0].ids))
    with torch.no_grad():
        batch_loss, n = target_loss(model, *collate([a, b], EOT_ID))
        alone = [target_loss(model, *collate([s], EOT_ID)) for s in (a, b)]
    assert n == a.n_target + b.n_target
    assert float(batch_loss) == pytest.approx(sum(float(l) * k for l, k in alone) / n, abs=1e-5)
