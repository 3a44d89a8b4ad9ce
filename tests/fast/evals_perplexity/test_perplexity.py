"""Perplexity: the windowing math, the aggregation and the errors, with fake scorers (no real model)."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.errors import AgentSpecError, UnknownBackendError
from agentspec.evals import perplexity as perplexity_module
from agentspec.evals.corpus import CorpusError
from agentspec.evals.perplexity import load_scorer, perplexity, windows


class WordScorer:
    """Words are tokens. ``nll_of(context, token)`` gives each NLL; every window it saw is recorded."""

    name = "fake"
    adapter = None

    def __init__(self, nll_of, context_length: int = 64):
        self.nll_of = nll_of
        self.context_length = context_length
        self.calls: list[tuple[list[str], int]] = []

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def nll(self, tokens, first):
        assert 1 <= first < len(tokens) <= self.context_length
        self.calls.append((list(tokens), first))
        return [self.nll_of(tokens[:i], tokens[i]) for i in range(first, len(tokens))]


def bigram(context, token) -> float:
    """Depends on the previous token only: any window that gives a token one token of context agrees."""
    return 0.1 + (hash((context[-1], token)) % 1000) / 500.0


@pytest.mark.parametrize("n,window,stride", [(0, 4, 2), (1, 4, 2), (2, 4, 2), (4, 4, 2), (5, 4, 2), (10, 4, 2),
                                             (10, 4, 4), (10, 4, 1), (11, 4, 3), (100, 16, 5), (7, 2, 1), (7, 2, 2)])
def test_windows_score_every_token_after_the_first_once_with_enough_context(n, window, stride):
    spans = windows(n, window, stride)
    scored = [i for _, end, first in spans for i in range(first, end)]
    assert scored == list(range(1, n))  # each token after the first, once, in order
    for begin, end, first in spans:
        assert 0 <= begin < first < end <= n and end - begin <= window
        # The first scored token of a window has min(position, window - stride) tokens of context or more.
        assert first - begin >= max(1, min(first, window - stride))


def test_windows_reject_bad_shapes():
    for window, stride in [(1, 1), (4, 0), (4, 5)]:
        with pytest.raises(ValueError):
            windows(10, window, stride)


def test_constant_nll_gives_its_exponential_token_weighted():
    scorer = WordScorer(lambda context, token: 2.0)
    result = perplexity(["a b c d", "e f", "g"], scorer, window=8)
    assert result.tokens == 3 + 1 + 0 and result.documents == 3
    assert result.mean_nll == pytest.approx(2.0) and result.perplexity == pytest.approx(math.exp(2.0))
    assert (result.window, result.stride, result.model) == (8, 4, "fake")


def test_mean_is_over_tokens_not_documents():
    # A 5-token document at NLL 1 and a 2-token one at NLL 4: (4*1 + 1*4) / 5, not (1 + 4) / 2.
    scorer = WordScorer(lambda context, token: 4.0 if token == "z" else 1.0)
    result = perplexity(["a b c d e", "y z"], scorer)
    assert result.tokens == 5 and result.mean_nll == pytest.approx(8 / 5)


def test_small_windows_give_the_full_context_result_for_a_bigram_model():
    text = " ".join(f"w{(i * 7) % 13}" for i in range(60))
    full = perplexity([text], WordScorer(bigram, 64), window=64)
    for window, stride in [(8, 4), (5, 1), (4, 4), (2, 2), (2, 1)]:
        scorer = WordScorer(bigram, 64)
        windowed = perplexity([text], scorer, window=window, stride=stride)
        assert windowed.tokens == full.tokens == 59
        assert windowed.mean_nll == pytest.approx(full.mean_nll, rel=1e-12)
        assert all(len(tokens) <= window for tokens, _ in scorer.calls)


def test_context_each_token_gets_matches_the_window_and_stride():
    # NLL = the context length it was given: a token at position i in [first, end) gets i - begin.
    scorer = WordScorer(lambda context, token: float(len(context)))
    result = perplexity([" ".join(["x"] * 10)], scorer, window=4, stride=2)
    # Windows (0,4,1) (2,6,4) (4,8,6) (6,10,8): contexts 1,2,3 | 2,3 | 2,3 | 2,3.
    assert result.tokens == 9 and result.mean_nll == pytest.approx((1 + 2 + 3 + 3 * (2 + 3)) / 9)


def test_max_tokens_per_doc_and_progress():
    scorer = WordScorer(lambda context, token: 1.0)
    seen = []
    result = perplexity(["a b c d e f", "g h i"], scorer, max_tokens_per_doc=3,
                        on_document=lambda done, tokens: seen.append((done, tokens)))
    assert result.tokens == 2 + 2 and seen == [(1, 2), (2, 4)]


def test_errors_name_the_problem():
    scorer = WordScorer(lambda context, token: 1.0, context_length=16)
    with pytest.raises(AgentSpecError, match="does not fit the model's context of 16"):
        perplexity(["a b"], scorer, window=32)
    with pytest.raises(AgentSpecError, match="stride 9 is longer than the window"):
        perplexity(["a b"], scorer, window=8, stride=9)
    with pytest.raises(CorpusError, match="nothing to score") as info:
        perplexity(["one", "two"], scorer)
    assert info.value.hint


def test_load_scorer_refuses_what_cannot_score_before_loading_anything():
    # The fast tier's guard fails any real model load: reaching a loader here would fail the test.
    with pytest.raises(AgentSpecError, match="cannot score perplexity") as info:
        load_scorer(model="m", backend="openai")
    assert "llamacpp" in info.value.hint
    with pytest.raises(UnknownBackendError):
        load_scorer(model="m", backend="nope")


def test_load_scorer_refuses_an_adapter_the_spec_does_not_have(tmp_path):
    (tmp_path / "expert.gguf").write_bytes(b"GGUF")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: t\nmodel: {name: smollm2-135m-q4_1}\ntoolkits: [{name: retail}]\n"
                    "adapters: [{name: returns, path: expert.gguf}]\nprompts: {system: retail_system.j2}\n"
                    "messages: {stopped: Please say that again.}\n")
    with pytest.raises(AgentSpecError, match="no adapter named 'refunds'") as info:
        load_scorer(spec=str(spec), adapter="refunds")
    assert "returns" in info.value.hint


def _run(args):
    return CliRunner().invoke(cli, ["eval", "perplexity", *args])


def test_cli_prints_one_json_object_last(tmp_path, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n\nd e\n\nf g h i\n")
    made = {}

    def fake_load_scorer(**kwargs):
        made.update(kwargs)
        return WordScorer(lambda context, token: 0.5)

    monkeypatch.setattr(perplexity_module, "load_scorer", fake_load_scorer)
    result = _run([str(corpus), "--json", "--limit", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["tokens"] == 3 and summary["documents"] == 2 and summary["corpus"] == str(corpus)
    assert summary["perplexity"] == pytest.approx(math.exp(0.5)) and summary["mean_nll"] == pytest.approx(0.5)
    assert {"seconds", "window", "stride", "model", "adapter"} <= set(summary)
    assert made == {"spec": "retail", "threads": 1, "n_ctx": None, "adapter": ""}
    text = _run([str(corpus), "--model", "m", "--window", "8", "--stride", "8"])
    assert text.exit_code == 0 and "Perplexity 1.649" in text.output and "stride 8" in text.output
    assert made["model"] == "m" and made["n_ctx"] == 8


def test_cli_bad_input_is_a_clean_error(tmp_path):
    def words(result):  # rich wraps long lines
        return " ".join(result.output.split())

    missing = _run([str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "does not exist" in words(missing) and "Hint:" in words(missing)
    assert missing.exception is None or isinstance(missing.exception, SystemExit)
    (tmp_path / "empty.txt").write_text("\n  \n\n")
    empty = _run([str(tmp_path / "empty.txt")])
    assert empty.exit_code == 2 and "has no text" in words(empty)
    both = _run([str(tmp_path / "empty.txt"), "--spec", "retail", "--model", "m"])
    assert both.exit_code == 2 and "not both" in words(both)
