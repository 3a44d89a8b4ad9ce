"""``train reader-answer``: the encoder's top layers and an answer head tuned in torch, served in NumPy.

MiniLM never runs here (``tests/conftest.py`` forbids loading it): a tiny BERT with random weights (two
layers, MiniLM's width) and a word-level tokenizer stand in for it, a real ``SentenceEncoder`` all the same,
so the torch training pass and the NumPy serving pass are compared on the same weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from agentspec.errors import AgentSpecError
from agentspec.routing.emoji_names import spell_emoji
from agentspec.routing.encoder import SentenceEncoder
from agentspec.routing.reader import LearnedReader, sentence_features
from agentspec.train.answer_tuning import AnswerTuning, AnswerTuningError, answer_examples, tune_answer
from agentspec.train.reader import ReaderSettings, train_reader

HIDDEN, LAYERS = 384, 2
YES = ["yes please go ahead", "sure do it", "yes go ahead", "ok proceed", "yep do it", "thumbs up"]
NOT_YES = {"plain_no": ["no thanks", "no do not", "nope leave it"],
           "sarcasm": ["oh sure because that worked", "yeah right"], "hedge": ["maybe later", "not sure"]}
OTHER_ROWS = ["cancel my order", "return the lamp", "where is my parcel", "change my address"]


def tiny_encoder() -> SentenceEncoder:
    """A two-layer BERT of MiniLM's width with seeded random weights and a word-level vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = sorted({w for t in [*YES, *OTHER_ROWS, *sum(NOT_YES.values(), [])] for w in t.split()} | {"?", "."})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    config = {"hidden_size": HIDDEN, "num_attention_heads": 12, "num_hidden_layers": LAYERS, "intermediate_size": 64,
              "max_position_embeddings": 64, "vocab_size": len(vocab)}
    rng = np.random.default_rng(0)

    def random(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": random(len(vocab), HIDDEN), "embeddings.position_embeddings.weight": random(64, HIDDEN),
         "embeddings.token_type_embeddings.weight": random(2, HIDDEN), "embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
         "embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[f"{p}attention.self.{name}.weight"], w[f"{p}attention.self.{name}.bias"] = random(HIDDEN, HIDDEN), random(HIDDEN)
        w |= {p + "attention.output.dense.weight": random(HIDDEN, HIDDEN), p + "attention.output.dense.bias": random(HIDDEN),
              p + "attention.output.LayerNorm.weight": np.ones(HIDDEN, np.float32),
              p + "attention.output.LayerNorm.bias": np.zeros(HIDDEN, np.float32),
              p + "intermediate.dense.weight": random(64, HIDDEN), p + "intermediate.dense.bias": random(64),
              p + "output.dense.weight": random(HIDDEN, 64), p + "output.dense.bias": random(HIDDEN),
              p + "output.LayerNorm.weight": np.ones(HIDDEN, np.float32), p + "output.LayerNorm.bias": np.zeros(HIDDEN, np.float32)}
    return SentenceEncoder(Path("tiny"), config, w, tokenizer, max_tokens=64)


def _rows() -> list[dict]:
    rows = [{"text": t, "answer": "yes", "acts": ["yes"]} for t in YES[:3]] * 8
    rows += [{"text": t, "answer": "no", "acts": ["no"]} for t in NOT_YES["plain_no"]] * 8
    rows += [{"text": t, "answer": "other", "acts": ["request"], "requests": ["cancel"]} for t in OTHER_ROWS] * 8
    return [{"requests": [], "spans": [], "choices": {}, "family": "toy", **r} for r in rows]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tuned")
    (folder / "data").mkdir()
    (folder / "data" / "reader.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    (folder / "replies.yaml").write_text(yaml.safe_dump({"clear_yes": {"plain": YES}, "not_yes": NOT_YES}))
    encoder = tiny_encoder()
    train_reader(ReaderSettings(data=folder / "data", out=folder / "base", hidden=16, tag_hidden=16, epochs=5,
                                tag_epochs=2, chars=0), encoder=encoder)
    settings = AnswerTuning(data=folder / "data", base=folder / "base", out=folder / "out", replies=[folder / "replies.yaml"],
                            layers=1, epochs=15, others=10, hidden=16, batch=8, reply_weight=2, lr=1e-3)
    report = tune_answer(settings, encoder=encoder)
    return settings, report, encoder


def test_reply_files_label_yes_no_and_other_and_count_their_weight(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"clear_yes": {"plain": ["yes"]}, "not_yes": {"plain_no": ["no"], "sarcasm": ["yeah right"]}}))
    pairs = answer_examples([], [path], others=0, seed=0, reply_weight=3)
    assert sorted(pairs) == sorted([("yes", "yes"), ("no", "no"), ("yeah right", "other")] * 3)


def test_only_the_top_layers_are_saved_and_the_reader_serves_them(tuned):
    settings, report, encoder = tuned
    with np.load(Path(settings.out) / "reader.npz") as arrays:
        layers = {k.split(".")[4] for k in arrays.files if k.startswith("tuned_encoder.")}
        assert layers == {"1"} and arrays["tuned_encoder.answer_tuned.encoder.layer.1.output.dense.weight"].dtype == np.float16
    reader = LearnedReader.load(settings.out, encoder=encoder)
    assert list(reader.tuned) == ["answer_tuned"] == [report["member"]]
    assert json.loads((Path(settings.out) / "reader.json").read_text())["heads"]["answer_tuned"]["encoder"] == "tuned"
    assert report["trained_on"]["answers"]["yes"] == 3 * 8 + 2 * len(YES)


def test_serving_reads_what_training_learned(tuned):
    settings, _, encoder = tuned
    reader = LearnedReader.load(settings.out, encoder=encoder)
    for text in YES:
        assert reader.read(text).answer["yes"] > 0.5, text
    for text in sum(NOT_YES.values(), []):
        assert reader.read(text).answer["yes"] < 0.5, text


def test_the_numpy_pass_equals_the_torch_pass_it_was_trained_with(tuned):
    import torch

    from agentspec.train._top_layers import TopLayers as _TopLayers, batches as _batches, pooled as _pooled

    settings, _, encoder = tuned
    saved = torch.load(Path(settings.out) / "answer_tuning.pt")
    model = _TopLayers(encoder.tensors, settings.layers, encoder.num_heads, encoder.layer_norm_eps)
    for name, value in saved["tuned"].items():
        model.tuned[name].data.copy_(value.half().float())  # served from float16
    texts = ["yes please go ahead", "no thanks"]
    (rows, ids, mask), = _batches(torch, encoder.tokenizer, texts, 8)
    with torch.no_grad():
        pooled = _pooled(torch, model.upper(*model.lower_states(ids, mask)), mask).numpy()
    reader = LearnedReader.load(settings.out, encoder=encoder)
    for row, i in enumerate(rows):
        (states,) = reader.tuned["answer_tuned"].encode([texts[i]])
        np.testing.assert_allclose(sentence_features(states.states[1:-1]), pooled[row], atol=2e-4)


def test_emoji_are_spelled_for_the_tuned_reading_and_questions_are_never_a_yes(tuned):
    settings, _, encoder = tuned
    reader = LearnedReader.load(settings.out, encoder=encoder)
    assert spell_emoji("👍") == " thumbs up " and spell_emoji("no") == "no"
    assert encoder.encode(["👍"])[0].unread == 1 and reader.tuned["answer_tuned"].encode([spell_emoji("👍")])[0].unread == 0
    assert reader.read("👍").answer["yes"] > 0.5
    assert reader.read("yes please go ahead ?").answer["yes"] == 0.0


def test_a_rerun_resumes_from_the_last_epoch_and_gives_the_same_reader(tuned, capsys):
    settings, _, encoder = tuned
    before = dict(np.load(Path(settings.out) / "reader.npz"))
    (Path(settings.out) / "reader.npz").unlink()
    tune_answer(settings, encoder=encoder)
    assert f"resuming after epoch {settings.epochs}" in capsys.readouterr().err
    after = np.load(Path(settings.out) / "reader.npz")
    assert set(after.files) == set(before) and all(np.array_equal(after[k], before[k]) for k in before)


def test_bad_inputs_are_clear_errors(tuned, tmp_path):
    settings, _, encoder = tuned
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: a list\n")
    with pytest.raises(AnswerTuningError, match="no reply file") as caught:
        tune_answer(AnswerTuning(data=settings.data, base=settings.base, out=tmp_path / "o", replies=[bad]), encoder=encoder)
    assert "clear_yes" in caught.value.hint
    with pytest.raises(AnswerTuningError, match="no reader data"):
        tune_answer(AnswerTuning(data=tmp_path, base=settings.base, out=tmp_path / "o"), encoder=encoder)
    with pytest.raises(AnswerTuningError, match="no reader at"):
        tune_answer(AnswerTuning(data=settings.data, base=tmp_path, out=tmp_path / "o"), encoder=encoder)


def test_tuned_layers_that_do_not_fit_the_encoder_are_refused(tuned, tmp_path):
    settings, _, encoder = tuned
    arrays = dict(np.load(Path(settings.out) / "reader.npz"))
    arrays["tuned_encoder.answer_tuned.encoder.layer.1.output.dense.bias"] = np.zeros(7, np.float16)
    (tmp_path / "reader.json").write_text((Path(settings.out) / "reader.json").read_text())
    np.savez(tmp_path / "reader.npz", **arrays)
    with pytest.raises(AgentSpecError, match="do not fit the encoder") as caught:
        LearnedReader.load(tmp_path, encoder=encoder)
    assert caught.value.code == "reader_corrupt"
    with pytest.raises(ValueError, match="matches none"):
        encoder.variant({"no.such.tensor": np.zeros(3, np.float32)})


def test_a_second_run_adds_a_member_and_a_yes_must_be_read_by_both(tuned, tmp_path):
    import dataclasses

    settings, _, encoder = tuned
    second = dataclasses.replace(settings, base=settings.out, out=tmp_path / "two", seed=1)
    assert tune_answer(second, encoder=encoder)["member"] == "answer_tuned_2"
    both = LearnedReader.load(second.out, encoder=encoder)
    assert list(both.tuned) == ["answer_tuned", "answer_tuned_2"]
    alone = [LearnedReader(both.meta, {**both.heads, "answer_tuned": both.heads[member]}, encoder, {"answer_tuned": layers})
             for member, layers in both.tuned.items()]
    for text in [*YES, *sum(NOT_YES.values(), [])]:
        yes = both.read(text).answer["yes"]
        assert yes == pytest.approx(min(r.read(text).answer["yes"] for r in alone), abs=1e-6), text


def test_a_tuned_member_merges_into_another_reader_with_its_layers(tuned, tmp_path):
    from agentspec.train.reader_merge import merge_readers

    settings, _, encoder = tuned
    merge_readers(settings.base, settings.out, ["answer_tuned"], tmp_path / "merged")
    merged, source = (LearnedReader.load(folder, encoder=encoder) for folder in (tmp_path / "merged", settings.out))
    assert list(merged.tuned) == ["answer_tuned"]
    for text in YES[:2]:
        assert merged.read(text).answer == source.read(text).answer
