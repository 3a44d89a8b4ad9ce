"""Document questions: generation, the dev/test split by document and wording, answer scoring, recall@k,
and resumable answering with a scripted model. No real model or encoder is loaded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.evals import _docqa_dev, _docqa_test
from agentspec.evals._docqa_answer import answer_arm, messages, read_rows, summarize
from agentspec.evals._docqa_facts import FACTS
from agentspec.evals.docqa import Question, generate_questions, is_correct, normalize, retrieval_recall, select, wilson
from agentspec.memory._chunks import chunk
from agentspec.memory.documents import Document, DocumentIndex, Passage
from agentspec.runtime.scripted import ScriptedChatModel

RETAIL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tau2-retail"


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    if not (RETAIL / "db.json").is_file():
        pytest.fail(f"the retail data is not at {RETAIL}; tests read it from ../shared/data")
    return generate_questions(RETAIL)


def test_generation_is_deterministic_and_covers_every_kind(questions):
    assert generate_questions(RETAIL) == questions
    assert len({q.id for q in questions}) == len(questions) == 2 * 50 + len(FACTS)
    assert {q.kind for q in questions} == {"price", "availability", "policy", "faq"}
    other = generate_questions(RETAIL, seed=1)
    assert {q.id: q.split for q in other} != {q.id: q.split for q in questions}  # the seed moves the split
    price = next(q for q in questions if q.id == "catalog:price:T-Shirt")
    assert price.sources == ("catalog.md#T-Shirt",) and price.answers[0].count(".") == 1  # "50.88"-like


def test_the_split_is_disjoint_by_document_and_by_wording(questions):
    dev = [q for q in questions if q.split == "dev"]
    test = [q for q in questions if q.split == "test"]
    assert 60 <= len(dev) <= 80 and 60 <= len(test) <= 80
    assert not {q.sources[0] for q in dev} & {q.sources[0] for q in test}
    # Two wording families with nothing in common, each question worded by its split's family.
    assert not set(_docqa_dev.PRICE + _docqa_dev.AVAILABILITY) & set(_docqa_test.PRICE + _docqa_test.AVAILABILITY)
    assert not set(_docqa_dev.FACTS.values()) & set(_docqa_test.FACTS.values())
    assert set(_docqa_dev.FACTS) == set(_docqa_test.FACTS) == set(FACTS)
    for q in questions:
        family = _docqa_dev if q.split == "dev" else _docqa_test
        if q.kind in ("policy", "faq"):
            assert q.text == family.FACTS[q.id.split(":", 1)[1]]
    assert not {q.text for q in dev} & {q.text for q in test}


def test_every_gold_source_is_a_passage_of_the_retail_documents(questions):
    from agentspec.tools.retail._documents import retail_documents

    sources = {c.source for d in retail_documents(RETAIL) for c in chunk(d)}
    assert {s for q in questions for s in q.sources} <= sources


def test_select_interleaves_kinds_so_a_limit_keeps_all_of_them(questions):
    first = select(questions, "test", limit=8)
    assert [q.kind for q in first] == ["price", "availability", "policy", "faq"] * 2
    assert all(q.split == "test" for q in first)
    assert len(select(questions, "dev")) == sum(q.split == "dev" for q in questions)


def _q(answers, match="any", text="How much is it?") -> Question:
    return Question("x", text, ("a.md",), tuple(answers), match, "policy", "dev")


def test_answers_are_compared_normalised_and_as_whole_words():
    assert normalize("It's $1,234.56 - refunds take 5-7 days at 2:30 PM.") == "it's 1234.56 refunds take 5 to 7 days at 2:30 pm"
    assert is_correct(_q(["50.88"]), "That one costs $50.88.")
    assert not is_correct(_q(["50.88"]), "It costs $150.88 or 50.881")
    assert is_correct(_q(["5 to 7 business days"]), "Refunds take 5-7 business days.")
    assert is_correct(_q(["pending", "delivered"], "all"), "Only pending or delivered orders.")
    assert not is_correct(_q(["pending", "delivered"], "all"), "Only pending orders.")
    # An answer the question already contains does not count: repeating the question would match it.
    assert not is_correct(_q(["one", "single"], text="How many users in a single conversation?"),
                          "The agent helps users in a single conversation.")
    assert is_correct(_q(["one", "single"], text="How many users in a single conversation?"), "Only one user.")


def test_yes_no_answers_are_read_from_their_first_yes_or_no_word():
    no = _q(["no"], "yesno")
    assert is_correct(no, "No, it is not available.") and is_correct(no, "Sorry, that variant is unavailable.")
    assert is_correct(no, "It is not in stock.") and not is_correct(no, "Yes, it is available.")
    assert is_correct(_q(["yes"], "yesno"), "It is available right now.")
    assert not is_correct(_q(["yes"], "yesno"), "I am a shop assistant.")  # neither: wrong


def test_wilson_interval():
    assert wilson(0, 10) == [0.0, 0.2775]
    assert wilson(5, 10) == [0.2366, 0.7634]
    assert wilson(10, 10) == [0.7225, 1.0]
    assert wilson(0, 0) == [0.0, 1.0]


class _Index:
    def __init__(self, results: dict[str, list[str]]):
        self.results = results

    def search(self, query, k=5):
        return [Passage(s, "text", 1.0 - i / 10) for i, s in enumerate(self.results[query][:k])]


def test_recall_at_k_counts_a_gold_source_among_the_top_k():
    qs = [Question("a", "qa", ("x.md#A", "y.md#A"), ("1",), "any", "price", "test"),
          Question("b", "qb", ("x.md#B",), ("1",), "any", "policy", "test"),
          Question("c", "qc", ("x.md#C",), ("1",), "any", "policy", "test")]
    index = _Index({"qa": ["z", "y.md#A"], "qb": ["1", "2", "3", "4", "5", "x.md#B"], "qc": ["x.md#C"]})
    result = retrieval_recall(qs, index, k=5)
    assert (result["hits"], result["n"], result["value"]) == (2, 3, 0.6667)
    assert [r["rank"] for r in result["rows"]] == [2, None, 1]
    assert result["by_kind"]["price"]["value"] == 1.0 and result["by_kind"]["policy"]["value"] == 0.5
    assert result["at_1"]["hits"] == 1 and result["ci"] == wilson(2, 3)
    assert retrieval_recall(qs, index, k=6)["hits"] == 3


class _TopicEncoder:
    """One dimension per topic word: a text's vector counts the topic words it holds."""

    TOPICS = ("refund", "cancel", "shirt", "lamp", "hours")

    def embed(self, texts):
        import numpy as np

        out = np.array([[t.lower().count(w) for w in self.TOPICS] for t in texts], dtype=np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_recall_on_a_tiny_real_index(tmp_path):
    index = DocumentIndex.open(tmp_path / "ix", _TopicEncoder())
    index.update([Document("faq.md", "## Refunds\n\nA refund takes a week.\n\n## Cancelling\n\nCancel while pending."),
                  Document("catalog.md", "## Shirt\n\nThe shirt costs 10.\n\n## Lamp\n\nThe lamp costs 20.")])
    qs = [Question("r", "when is my refund paid?", ("faq.md#Refunds",), ("week",), "any", "faq", "test"),
          Question("s", "price of the shirt?", ("catalog.md#Shirt",), ("10",), "any", "price", "test"),
          Question("h", "opening hours?", ("faq.md#Hours",), ("9",), "any", "faq", "test")]
    result = retrieval_recall(qs, index, k=1)
    assert [r["hit"] for r in result["rows"]] == [True, True, False] and result["value"] == pytest.approx(0.6667)
    assert retrieval_recall(qs, index, k=5)["value"] == pytest.approx(0.6667)  # the gold section does not exist


def test_answering_is_resumable_and_shows_passages_with_their_source(tmp_path):
    qs = [Question(f"q{i}", f"question {i}?", ("a.md",), ("yes",), "yesno", "faq", "test") for i in range(3)]
    results = tmp_path / "answers.jsonl"
    model = ScriptedChatModel(["Yes.", "No."])
    rows = answer_arm(model, "arm", qs[:2], results)
    assert [r["correct"] for r in rows] == [True, False] and len(model.calls) == 2
    with results.open("a") as f:
        f.write('{"arm": "arm", "id": "q2", "torn')  # a kill mid-write
    model.enqueue("Yes, sure.")
    rows = answer_arm(model, "arm", qs, results)
    assert len(model.calls) == 3 and [r["id"] for r in rows] == ["q0", "q1", "q2"]
    assert [r["id"] for r in read_rows(results, "arm")] == ["q0", "q1", "q2"]
    assert summarize(rows)["accuracy"] == 0.6667 and summarize(rows)["correct"] == 2
    shown = messages("Where does my refund go?", [Passage("faq.md#Refunds", "Refunds\nTo the original method.")])
    assert "[1] (source: faq.md#Refunds)\nRefunds\nTo the original method." in shown[0]["content"]
    assert shown[-1] == {"role": "user", "content": "Where does my refund go?"}
    assert json.loads(results.read_text().splitlines()[-1])["id"] == "q2"
