"""The document index: chunking, incremental updates, search, crash safety, corrupt files, the CLI, the
perplexity monitor. Most tests embed with a counting bag-of-words encoder; the search-quality test uses
the real MiniLM encoder (numpy, ~0.1 s to load), taken before the fast tier's guard replaces its loader.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agentspec.errors import AgentSpecError
from agentspec.memory._chunks import chunk
from agentspec.memory.documents import INDEX_FILE, Document, DocumentIndex, Passage, format_passages
from agentspec.routing.encoder import SentenceEncoder

_REAL_LOAD = SentenceEncoder.load  # the real loader, captured at import (the autouse guard patches it later)
REPO = Path(__file__).resolve().parents[3]
FAKE_ENCODER = '''
import hashlib, re
import numpy as np

class WordsEncoder:
    """Bag of words hashed into ``dim`` buckets, L2-normalised; counts calls and texts embedded."""

    def __init__(self, dim=64):
        self.dim, self.calls, self.texts = dim, 0, []

    def embed(self, texts):
        self.calls += 1
        self.texts += list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(out, texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                row[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
'''
exec(FAKE_ENCODER)  # defines WordsEncoder here too: the crash test's subprocess uses the same code

POLICY = """# Policy

Intro text about the shop.

## Cancel pending order

An order can only be cancelled while pending. Refunds to a gift card are immediate.

## Return delivered order

A delivered order can be returned; the refund goes to the original payment method.
"""
FAQ = "# FAQ\n\n## How long does a refund take?\n\nFive to seven business days for a credit card.\n"


def _docs(**changes: str) -> list[Document]:
    texts = {"policy.md": POLICY, "faq.md": FAQ, "notes.md": "Opening hours are nine to five."} | changes
    return [Document(s, t) for s, t in texts.items()]


def _rows(folder: Path) -> tuple[int, int]:
    with sqlite3.connect(folder / INDEX_FILE) as db:
        return (db.execute("SELECT COUNT(*) FROM passages").fetchone()[0],
                db.execute("SELECT COALESCE(SUM(passages), 0) FROM documents").fetchone()[0])


# ---- chunking ---------------------------------------------------------------------------------------

def test_chunks_follow_sections_and_keep_their_source():
    chunks = chunk(Document("policy.md", POLICY))
    assert [c.source for c in chunks] == ["policy.md#Policy", "policy.md#Cancel pending order",
                                          "policy.md#Return delivered order"]
    assert chunks[1].text.startswith("Policy > Cancel pending order\nAn order can only be cancelled")
    assert [c.position for c in chunks] == [0, 1, 2]
    assert chunk(Document("plain.txt", "no heading here"))[0].source == "plain.txt"


def test_long_sections_are_cut_near_max_words_and_short_tails_are_merged():
    body = "\n\n".join(" ".join(f"w{p}x{i}" for i in range(60)) for p in range(7))  # 7 paragraphs x 60 words
    chunks = chunk(Document("d.md", f"## Long\n\n{body}"), max_words=200, min_words=80)
    sizes = [len(c.text.split()) - 1 for c in chunks]  # minus the heading line
    assert sizes == [180, 240]  # 3 + 3 paragraphs, then the 60-word tail joins the part before it
    assert all(c.source == "d.md#Long" and c.text.startswith("Long\n") for c in chunks)
    one_paragraph = " ".join(f"w{i}." for i in range(450))  # one paragraph of 450 sentences: cut at sentences
    assert [len(c.text.split()) for c in chunk(Document("e.md", one_paragraph), max_words=200)] == [200, 250]


def test_headings_inside_code_fences_are_text():
    doc = Document("d.md", "## A\n\n```\n# not a heading\n```\n")
    assert [c.source for c in chunk(doc)] == ["d.md#A"]


# ---- updates and search --------------------------------------------------------------------------------

def test_update_is_incremental_and_reports_what_changed(tmp_path):
    encoder = WordsEncoder()
    index = DocumentIndex.open(tmp_path / "ix", encoder)
    assert index.update(_docs()) == {"added": ["faq.md", "notes.md", "policy.md"], "changed": [], "removed": [],
                                     "unchanged": []}
    assert len(index) == 5 and encoder.calls == 1
    # The same documents again: nothing is embedded.
    assert index.update(_docs())["unchanged"] == ["faq.md", "notes.md", "policy.md"]
    assert encoder.calls == 1
    # One section of one document edited: only that passage's text is embedded.
    edited = POLICY.replace("Refunds to a gift card are immediate.", "Gift card refunds are immediate.")
    before = len(encoder.texts)
    report = index.update(_docs(**{"policy.md": edited}))
    assert report["changed"] == ["policy.md"] and report["unchanged"] == ["faq.md", "notes.md"]
    assert encoder.texts[before:] == ["Policy > Cancel pending order\nAn order can only be cancelled while pending. "
                                      "Gift card refunds are immediate."]
    # A document left out is removed (prune), or kept with prune=False.
    assert index.update([d for d in _docs(**{"policy.md": edited}) if d.source != "notes.md"],
                        prune=False)["removed"] == []
    assert index.update([d for d in _docs(**{"policy.md": edited}) if d.source != "notes.md"])["removed"] == ["notes.md"]
    assert len(index) == 4 == _rows(tmp_path / "ix")[0]
    with pytest.raises(AgentSpecError, match="given twice"):
        index.update([Document("a.md", "x"), Document("a.md", "y")])


def test_search_returns_passages_with_their_source(tmp_path):
    index = DocumentIndex.open(tmp_path / "ix", WordsEncoder())
    index.update(_docs())
    hits = index.search("returned delivered order refund original payment method", k=2)
    assert hits[0].source == "policy.md#Return delivered order" and len(hits) == 2
    assert hits[0].score >= hits[1].score and isinstance(hits[0], Passage)
    block = format_passages(hits[:1])
    assert block.startswith("[1] (source: policy.md#Return delivered order)\nPolicy > Return delivered order")
    assert len(index.search("anything", k=50)) == 5


def test_search_with_the_real_minilm_encoder(tmp_path):
    index = DocumentIndex.open(tmp_path / "ix", _REAL_LOAD())
    index.update(_docs())
    assert index.search("how many days until my credit card refund arrives?", k=1)[0].source == \
        "faq.md#How long does a refund take?"
    assert index.search("When is the store open?", k=1)[0].source == "notes.md"
    assert index.search("can I cancel my pending order", k=1)[0].source == "policy.md#Cancel pending order"


class _NoEncoder:
    def embed(self, texts):
        raise AssertionError("the encoder must not be used")


def test_empty_or_missing_index_searches_nothing_and_the_folder_is_made_on_update(tmp_path):
    folder = tmp_path / "not" / "yet"
    index = DocumentIndex.open(folder, _NoEncoder())
    assert index.search("refund") == [] and index.passages() == [] and len(index) == 0
    assert not folder.exists()
    index.update([])  # nothing to embed: the encoder is not called
    DocumentIndex.open(folder, WordsEncoder()).update(_docs())
    assert folder.is_dir() and len(DocumentIndex.open(folder, _NoEncoder())) == 5


def test_a_commit_by_another_process_is_seen_by_search(tmp_path):
    reader = DocumentIndex.open(tmp_path / "ix", WordsEncoder())
    writer = DocumentIndex.open(tmp_path / "ix", WordsEncoder())
    writer.update(_docs())
    assert reader.search("opening hours", k=1)[0].source == "notes.md"
    writer.update(_docs(**{"notes.md": "We open at ten on Sundays."}))
    assert "ten on Sundays" in reader.search("we open at ten on sundays", k=1)[0].text
    assert len(reader) == 5 and "Opening hours" not in " ".join(p.text for p in reader.passages())


def test_vectors_of_another_width_are_refused(tmp_path):
    DocumentIndex.open(tmp_path / "ix", WordsEncoder(64)).update(_docs())
    with pytest.raises(AgentSpecError) as err:
        DocumentIndex.open(tmp_path / "ix", WordsEncoder(32)).update(_docs(**{"notes.md": "changed"}))
    assert err.value.code == "retrieval_dimension" and "--rebuild" in err.value.hint


# ---- corrupt files and crashes --------------------------------------------------------------------------

def test_a_corrupt_file_names_itself_and_the_fix(tmp_path):
    folder = tmp_path / "ix"
    folder.mkdir()
    (folder / INDEX_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AgentSpecError) as err:
        DocumentIndex.open(folder, WordsEncoder())
    assert err.value.code == "retrieval_corrupt" and str(folder / INDEX_FILE) in err.value.message
    assert "agentspec retrieval index" in err.value.hint and "--rebuild" in err.value.hint


def test_rows_that_disagree_with_the_document_list_are_corrupt(tmp_path):
    DocumentIndex.open(tmp_path / "ix", WordsEncoder()).update(_docs())
    with sqlite3.connect(tmp_path / "ix" / INDEX_FILE) as db:
        db.execute("DELETE FROM passages WHERE id = (SELECT MIN(id) FROM passages)")
    with pytest.raises(AgentSpecError, match="passages stored") as err:
        DocumentIndex.open(tmp_path / "ix", WordsEncoder())
    assert err.value.code == "retrieval_corrupt"


_WRITER = FAKE_ENCODER + '''
import sys
from agentspec.memory.documents import Document, DocumentIndex

index = DocumentIndex.open(sys.argv[1], WordsEncoder())
sets = [[Document(f"doc{i}.md", f"## S{j}\\n\\n" + f"alpha {i} {j} " * 40) for i in range(40) for j in range(1)],
        [Document(f"doc{i}.md", f"## T{j}\\n\\nbeta {i} {j} " + "gamma " * 30) for i in range(25, 70) for j in range(1)]]
print("ready", flush=True)
n = 0
while True:
    index.update(sets[n % 2])
    n += 1
'''


def test_kill_9_mid_update_leaves_a_consistent_index(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    folder = tmp_path / "ix"
    rng = random.Random(0)
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE, cwd=REPO)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2 + rng.random() * 0.6)  # somewhere inside an update loop: embedding or committing
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        index = DocumentIndex.open(folder, WordsEncoder())
        rows, listed = _rows(folder)
        assert len(index) == rows == listed
        sources = set(index.documents())
        assert sources in ({f"doc{i}.md" for i in range(40)}, {f"doc{i}.md" for i in range(25, 70)}, set())
        assert len(index.search("alpha beta gamma", k=3)) == min(3, rows)
        index.close()


# ---- the CLI -----------------------------------------------------------------------------------------------

@pytest.fixture
def fake_default_encoder(monkeypatch):
    encoder = WordsEncoder()
    monkeypatch.setattr(SentenceEncoder, "load", classmethod(lambda cls, *a, **k: encoder))
    return encoder


def test_cli_index_search_corrupt_and_rebuild(tmp_path, fake_default_encoder):
    from agentspec.cli import cli

    data = tmp_path / "docs"
    data.mkdir()
    for d in _docs():
        (data / d.source).write_text(d.text)
    home = tmp_path / "home"
    runner = CliRunner()
    args = ["retrieval", "index", "--toolkit", "files", "--data", str(data), "--home", str(home), "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["added"] == ["faq.md", "notes.md", "policy.md"] and report["passages"] == 5
    assert json.loads(runner.invoke(cli, args).output.splitlines()[-1])["unchanged"] == report["added"]
    found = runner.invoke(cli, ["retrieval", "search", "opening hours", "-k", "1", "--home", str(home), "--json"])
    assert json.loads(found.output)[0]["source"] == "notes.md"
    text = runner.invoke(cli, ["retrieval", "index", "--toolkit", "files", "--data", str(data), "--home", str(home)])
    assert "unchanged: 3" in text.output and "5 passages" in text.output
    # A corrupt file: a clear error with the fix; --rebuild recovers.
    (home / "retrieval" / INDEX_FILE).write_bytes(b"garbage" * 200)
    broken = runner.invoke(cli, ["retrieval", "search", "refund", "--home", str(home)])
    assert broken.exit_code == 2 and "--rebuild" in broken.output
    rebuilt = runner.invoke(cli, [*args, "--rebuild"])
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.output.splitlines()[-1])["passages"] == 5


def test_cli_uses_the_toolkits_documents_hook(tmp_path, monkeypatch, fake_default_encoder):
    from agentspec.cli import cli
    from agentspec.toolkit import toolkit_factory

    factory = toolkit_factory("retail")
    monkeypatch.setattr(factory, "documents", lambda data: _docs(), raising=False)
    result = CliRunner().invoke(cli, ["retrieval", "index", "--data", str(tmp_path), "--home", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["documents"] == 3
    monkeypatch.delattr(factory, "documents")
    missing = CliRunner().invoke(cli, ["retrieval", "index", "--data", str(tmp_path), "--home", str(tmp_path)])
    assert missing.exit_code == 2 and "no `documents` hook" in missing.output


def test_cli_search_on_an_empty_index_says_how_to_build_it(tmp_path):
    from agentspec.cli import cli

    result = CliRunner().invoke(cli, ["retrieval", "search", "refund", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "agentspec retrieval index --data DIR" in result.output


# ---- the perplexity monitor -----------------------------------------------------------------------------------

class _WordScorer:
    """A fake scorer: every token costs 1 nat, except words starting with 'z' (surprising), which cost 4."""

    name, context_length, adapter = "fake", 64, None

    def __init__(self):
        self.scored: list[str] = []

    def tokenize(self, text):
        self.scored.append(text)
        return text.split()

    def nll(self, tokens, first):
        return [4.0 if t.startswith("z") else 1.0 for t in tokens[first:]]


def test_the_perplexity_monitor_flags_surprising_new_documents_and_scores_each_version_once(tmp_path):
    from agentspec.evals.staleness import monitor_documents

    docs = [Document(f"d{i}.md", "plain words only here " * 5) for i in range(4)]
    index = DocumentIndex.open(tmp_path / "ix", WordsEncoder())
    index.update(docs)
    scorer = _WordScorer()
    first = monitor_documents(index, docs, scorer, ratio=1.5)
    assert sorted(first["scored"]) == ["d0.md", "d1.md", "d2.md", "d3.md"] and first["flagged"] == []
    assert first["median"] == pytest.approx(np.e)
    # One document changes into surprising text: only it is scored again, and it is flagged.
    docs[2] = Document("d2.md", "zebra zygote zenith zinc " * 5)
    index.update(docs)
    scorer.scored.clear()
    second = monitor_documents(index, docs, scorer, ratio=1.5)
    assert list(second["scored"]) == ["d2.md"] and second["flagged"] == ["d2.md"] and len(scorer.scored) == 1
    assert set(second["documents"]) == {"d0.md", "d1.md", "d2.md", "d3.md"}
    assert monitor_documents(index, docs, scorer)["scored"] == {}  # nothing new: nothing scored
