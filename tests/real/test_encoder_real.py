"""The NumPy sentence encoder against transformers' BertModel (torch, CPU) on the same folder."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from agentspec.errors import AgentSpecError
from agentspec.routing.encoder import INSTALL_HINT, SentenceEncoder, default_encoder_path

pytestmark = pytest.mark.real

SENTENCES = [
    "hi",
    "I want to return the blue water bottle I ordered last week, it arrived cracked.",
    "Wait... what?! No -- that's NOT what I asked for (at all); cancel it.",
    "Ça coûte combien ? Größe 42, naïve café, 東京 and emoji 🙂 too.",
    "My email is harper.khan_42@example.co.uk, please update it.",
    "Order #W1234567 hasn't shipped yet.",
    "",
    " ".join(f"word{i} and some more filler text" for i in range(80)),  # > 256 tokens: truncated
]


@pytest.fixture(scope="module")
def folder() -> Path:
    return default_encoder_path()


@pytest.fixture(scope="module")
def encoder(folder) -> SentenceEncoder:
    return SentenceEncoder.load(folder)


@pytest.fixture(scope="module")
def reference(folder):
    """(tokenizer, model) from transformers, the reference implementation."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    return tokenizer, model


def _reference_states(reference, texts: list[str]):
    """last_hidden_state [N, T, 384] and attention mask [N, T] of a padded batch, as numpy."""
    import torch

    tokenizer, model = reference
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    return states.numpy(), batch["attention_mask"].numpy(), batch["input_ids"].numpy()


def test_embed_matches_transformers_mean_pooling(encoder, reference):
    states, mask, _ = _reference_states(reference, SENTENCES)
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    got = encoder.embed(SENTENCES)

    assert got.shape == (len(SENTENCES), 384) and got.dtype == np.float32
    cosine = np.sum(got * expected, axis=1)
    assert cosine.min() > 0.9999, cosine
    assert np.abs(got - expected).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_token_states_match_last_hidden_state(encoder, reference):
    states, mask, ids = _reference_states(reference, SENTENCES)
    for i, item in enumerate(encoder.encode(SENTENCES)):
        n = int(mask[i].sum())
        assert list(item.ids) == ids[i, :n].tolist()  # same tokenization, truncation included
        assert item.states.shape == (n, 384) and item.states.dtype == np.float32
        assert np.abs(item.states - states[i, :n]).max() < 1e-3, SENTENCES[i][:40]
    assert len(encoder.encode(SENTENCES[-1:])[0]) == 256


def test_batch_equals_one_by_one(folder):
    batched = SentenceEncoder.load(folder, cache_size=0)
    together = batched.encode(SENTENCES * 5)  # 40 texts: two batches of different lengths
    for text, item in zip(SENTENCES * 5, together):
        alone = batched.encode([text])[0]
        assert alone.tokens == item.tokens and alone.offsets == item.offsets
        np.testing.assert_allclose(alone.states, item.states, atol=1e-5)
    np.testing.assert_allclose(batched.embed(SENTENCES), np.stack([batched.embed([t])[0] for t in SENTENCES]),
                               atol=1e-6)


def test_cache_returns_the_same_result(encoder):
    first = encoder.encode(["Order #W1234567 hasn't shipped yet.", "hi"])
    again = encoder.encode(["hi", "Order #W1234567 hasn't shipped yet."])
    assert again[1] is first[0] and again[0] is first[1]
    assert not first[0].states.flags.writeable


def test_offsets_map_tokens_to_substrings(encoder):
    text = "Harper Khan here, zip 19029"
    item = encoder.encode([text])[0]
    assert item.tokens[0] == "[CLS]" and item.tokens[-1] == "[SEP]"
    assert item.offsets[0] == (0, 0) and item.offsets[-1] == (0, 0)
    start = text.index("Khan")
    khan = [(s, e) for s, e in item.offsets[1:-1] if s < start + 4 and e > start]
    assert khan and khan[0][0] == start and khan[-1][1] == start + 4
    # Every word piece covers its own text (uncased model: compare lowercased, "##" stripped).
    for token, (s, e) in zip(item.tokens[1:-1], item.offsets[1:-1]):
        assert text[s:e].lower() == token.removeprefix("##")
    assert "".join(text[s:e] for s, e in item.offsets[1:-1] if e > s) == text.replace(" ", "")


def _partial_copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(folder / name, target / name)
    return target


def test_missing_weights_raise_with_hint(folder, tmp_path):
    target = _partial_copy(folder, tmp_path / "enc")
    with pytest.raises(AgentSpecError) as info:
        SentenceEncoder.load(target)
    assert info.value.code == "encoder_missing"
    assert "model.safetensors" in info.value.message and str(target) in info.value.message
    assert INSTALL_HINT in info.value.hint


def test_truncated_weights_raise_with_hint(folder, tmp_path):
    target = _partial_copy(folder, tmp_path / "enc")
    data = (folder / "model.safetensors").read_bytes()
    (target / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(AgentSpecError) as info:
        SentenceEncoder.load(target)
    assert info.value.code == "encoder_corrupt"
    assert "model.safetensors" in info.value.message
    assert INSTALL_HINT in info.value.hint


def test_missing_folder_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTSPEC_ENCODER", str(tmp_path / "nowhere"))
    with pytest.raises(AgentSpecError) as info:
        SentenceEncoder.load()
    assert info.value.code == "encoder_missing" and "nowhere" in info.value.message


def test_the_encoder_counts_what_it_cannot_read(encoder):
    plain, emoji, long = encoder.encode(["yes, go ahead", "sure \U0001F644", "yes " * 400])
    assert plain.unread == 0 and emoji.unread == 1 and long.unread == 1


# --- variants share the parent's lower layers -------------------------------------------------------------

def _nudged(encoder: SentenceEncoder, *prefixes: str) -> dict[str, np.ndarray]:
    """The tensors named ``prefixes...`` with seeded noise added: overrides as a tuned head has them."""
    rng = np.random.default_rng(0)
    return {name: w + np.float32(0.02) * rng.standard_normal(w.shape, dtype=np.float32)
            for name, w in sorted(encoder.tensors.items()) if name.startswith(prefixes)}


def _standalone(encoder: SentenceEncoder, overrides: dict[str, np.ndarray]) -> SentenceEncoder:
    """An encoder built alone on ``encoder``'s weights with ``overrides``: it runs every layer itself."""
    config = json.loads((encoder.path / "config.json").read_text(encoding="utf-8"))
    return SentenceEncoder(encoder.path, config, {**encoder.tensors, **overrides}, encoder.tokenizer,
                           max_tokens=encoder.max_tokens)


def _assert_same(got: list, want: list) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.tokens == w.tokens and g.offsets == w.offsets and g.unread == w.unread
        assert np.array_equal(g.states, w.states)  # bit for bit: the same NumPy operations ran


@pytest.fixture
def layers_run(monkeypatch) -> Counter:
    """How many layers each encoder has run (batches x layers), by encoder."""
    counts: Counter = Counter()
    run = SentenceEncoder._layer

    def counted(self, *args):
        counts[self] += 1
        return run(self, *args)

    monkeypatch.setattr(SentenceEncoder, "_layer", counted)
    return counts


def test_a_variant_of_the_top_layers_runs_only_those_and_gives_the_standalone_result(folder, layers_run):
    base = SentenceEncoder.load(folder)
    top2_overrides = _nudged(base, "encoder.layer.4.", "encoder.layer.5.")
    top1_overrides = _nudged(base, "encoder.layer.5.")
    top2, top1 = base.variant(top2_overrides), base.variant(top1_overrides)
    alone = {base: _standalone(base, {}), top2: _standalone(base, top2_overrides),
             top1: _standalone(base, top1_overrides)}

    # The base reads first (as the reader does): one batch of eight lengths, the last truncated at 256 tokens.
    for encoder, standalone in alone.items():
        _assert_same(encoder.encode(SENTENCES), standalone.encode(SENTENCES))
    assert (layers_run[base], layers_run[top2], layers_run[top1]) == (6, 2, 1)
    assert np.array_equal(top2.embed(SENTENCES), alone[top2].embed(SENTENCES))

    # A variant reads first: the base runs the shared layers for it, then only the rest for itself.
    layers_run.clear()
    texts = ["Is order #W7654321 on its way?", "yes please"]
    _assert_same(top2.encode(texts), alone[top2].encode(texts))
    assert (layers_run[base], layers_run[top2]) == (4, 2)
    _assert_same(base.encode(texts), alone[base].encode(texts))
    _assert_same(top1.encode(texts), alone[top1].encode(texts))
    assert (layers_run[base], layers_run[top2], layers_run[top1]) == (6, 2, 1)
    assert not np.array_equal(top2.encode(texts)[0].states, base.encode(texts)[0].states)


@pytest.mark.parametrize(("prefixes", "own_layers"), [
    (("embeddings.LayerNorm.",), 6), (("encoder.layer.0.",), 6), (("encoder.layer.0.", "encoder.layer.5."), 6),
    (("encoder.layer.2.", "encoder.layer.5."), 4),
])
def test_a_variant_runs_every_layer_from_the_lowest_one_it_changes(folder, layers_run, prefixes, own_layers):
    base = SentenceEncoder.load(folder)
    overrides = _nudged(base, *prefixes)
    variant, texts = base.variant(overrides), SENTENCES[:-1]  # seven lengths in one batch
    base.encode(texts)
    _assert_same(variant.encode(texts), _standalone(base, overrides).encode(texts))
    assert (layers_run[base], layers_run[variant]) == (6, own_layers)
    assert base._splits == ({6 - own_layers} if own_layers < 6 else set())


def test_the_layer_inputs_kept_for_variants_stay_bounded(folder, monkeypatch):
    from agentspec.routing import encoder as module

    base = SentenceEncoder.load(folder)
    overrides = _nudged(base, "encoder.layer.4.", "encoder.layer.5.")
    top, alone = base.variant(overrides), _standalone(base, overrides)
    texts = [f"where is order number {i}?" for i in range(40)]
    for text in texts:
        top.encode([text])
    assert len(base._shared) == module._SHARED_BATCHES < len(texts)

    monkeypatch.setattr(module, "_SHARED_ROWS", 100)
    more = [f"please cancel order {i}, I ordered it by mistake" for i in range(12)]
    for text in more:
        base.encode([text])
        _assert_same(top.encode([text]), alone.encode([text]))
        assert base._shared_rows == sum(len(x) for inputs in base._shared.values() for x in inputs.values()) <= 100
    _assert_same(top.encode(SENTENCES), alone.encode(SENTENCES))  # 8 x 256 rows: too many to keep, read all the same
    assert base._shared_rows <= 100


def test_variants_read_from_several_threads_at_once_give_the_standalone_result(folder):
    base = SentenceEncoder.load(folder)
    overrides = _nudged(base, "encoder.layer.4.", "encoder.layer.5.")
    tops = [base.variant(overrides), base.variant(_nudged(base, "encoder.layer.5."))]
    texts = [f"can I return item {i} of my order?" for i in range(24)]

    def read(text: str) -> list:
        return [encoder.encode([text])[0] for encoder in (base, *tops)]

    with ThreadPoolExecutor(4) as pool:
        readings = list(pool.map(read, texts))
    references = [_standalone(base, {}), _standalone(base, overrides),
                  _standalone(base, _nudged(base, "encoder.layer.5."))]
    for text, reading in zip(texts, readings):
        _assert_same(reading, [reference.encode([text])[0] for reference in references])
