"""Corpora: reading .txt / .jsonl / directories with clear errors, and the retail corpus of a user split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.evals.corpus import CorpusError, load_corpus, render_user, write_corpus
from agentspec.evals.generate import generate_suite, user_split

# tests/fast/evals_perplexity/<this file>: the shared data lies next to the repository.
RETAIL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tau2-retail"


def test_txt_documents_are_separated_by_blank_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("First doc,\nline two.\n\n\nSecond doc.\r\n \t\r\nThird.\n\n", encoding="utf-8")
    assert load_corpus(path) == ["First doc,\nline two.", "Second doc.", "Third."]
    assert load_corpus(path, limit=2) == ["First doc,\nline two.", "Second doc."]


def test_jsonl_takes_the_text_field_and_skips_blank_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one", "id": 1}\n\n{"text": "two\\n\\nstill two"}\n{"text": "  "}\n')
    assert load_corpus(path) == ["one", "two\n\nstill two"]


@pytest.mark.parametrize("line,problem", [("{not json", "line 2: not JSON"), ('{"body": "x"}', 'line 2: no string'),
                                          ('["text"]', "line 2: no string"), ('{"text": 3}', "line 2: no string")])
def test_bad_jsonl_lines_are_named(tmp_path, line, problem):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(CorpusError, match=problem) as info:
        load_corpus(path)
    assert '{"text"' in info.value.hint


def test_a_directory_gives_one_document_per_txt_or_md_file(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\nbody of b\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("c\n")
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "skip.json").write_text('{"text": "no"}')
    (tmp_path / "empty.txt").write_text("\n\n")
    assert load_corpus(tmp_path) == ["a", "# B\n\nbody of b", "c"]


def test_missing_empty_and_undecodable_corpora_are_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist") as info:
        load_corpus(tmp_path / "nope.txt")
    assert "eval corpus" in info.value.hint
    (tmp_path / "blank.txt").write_text(" \n\n\t\n")
    with pytest.raises(CorpusError, match="has no text"):
        load_corpus(tmp_path / "blank.txt")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x.bin").write_bytes(b"\x00")
    with pytest.raises(CorpusError, match="no .txt or .md file"):
        load_corpus(tmp_path / "dir")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8") as info:
        load_corpus(tmp_path / "latin1.txt")
    assert "iconv" in info.value.hint


@pytest.fixture(scope="module")
def db():
    return json.loads((RETAIL / "db.json").read_text())


def test_retail_corpus_holds_only_the_split_users(tmp_path, db):
    out = tmp_path / "test.txt"
    count = write_corpus(RETAIL / "db.json", out, "test", n=12, seed=0)
    docs = load_corpus(out)
    assert count == len(docs) == 12
    train, held_out = user_split(db, 0, 0.3)  # what `eval generate --seed 0` writes
    for doc in docs:
        user_id = doc.split("(user id ", 1)[1].split(")", 1)[0]
        assert user_id in held_out and user_id not in train
        assert doc == render_user(db, user_id)
        for order_id in db["users"][user_id]["orders"]:
            assert f"Order {order_id} is {db['orders'][order_id]['status']}." in doc
    again = tmp_path / "again.txt"
    write_corpus(RETAIL / "db.json", again, "test", n=12, seed=0)
    assert again.read_bytes() == out.read_bytes()  # seeded: byte-identical


def test_retail_corpus_reads_generates_user_split_and_puts_the_policy_first(tmp_path):
    suite = tmp_path / "suite"
    generate_suite(RETAIL / "db.json", suite, 3, seed=5, eval_fraction=0.2)
    split = json.loads((suite / "user_split.json").read_text())
    out = tmp_path / "train.txt"
    count = write_corpus(RETAIL / "db.json", out, "train", user_split=suite / "user_split.json", n=5,
                         policy=RETAIL / "policy.md")
    docs = load_corpus(out)
    assert count == len(docs) == 6 and docs[0].startswith("# Retail agent policy")
    assert all(doc.split("(user id ", 1)[1].split(")", 1)[0] in split["train_users"] for doc in docs[1:])


def test_retail_corpus_errors(tmp_path):
    db_path = RETAIL / "db.json"
    bad = tmp_path / "split.json"
    bad.write_text('{"users": []}')
    with pytest.raises(CorpusError, match="not a user split"):
        write_corpus(db_path, tmp_path / "o.txt", "test", user_split=bad)
    with pytest.raises(CorpusError, match="has no user"):
        write_corpus(db_path, tmp_path / "o.txt", "test", eval_fraction=0.0)
    with pytest.raises(CorpusError, match="unknown split"):
        write_corpus(db_path, tmp_path / "o.txt", "dev")
    assert not (tmp_path / "o.txt").exists()
