"""``train reader-requests``: the encoder's top layers and a requests head tuned in torch, served in NumPy.

The tiny random BERT of ``test_answer_tuning`` stands in for MiniLM (a real ``SentenceEncoder`` all the
same); the toy data holds a request the base reader's head never knew ("product").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agentspec.errors import AgentSpecError
from agentspec.routing.reader import LearnedReader
from agentspec.train.reader import ReaderSettings, train_reader
from agentspec.train.requests_tuning import RequestsTuning, RequestsTuningError, request_examples, tune_requests

from test_answer_tuning import YES, tiny_encoder

ASKS = {"cancel my order": ["cancel"], "return the lamp": ["return"], "where is my parcel": ["status"],
        "change my address": ["modify_address"], "yes please go ahead": [], "sure do it": []}


def _rows() -> list[dict]:
    rows = [{"text": t, "requests": r, "answer": "other"} for t, r in ASKS.items()] * 10
    return [{"spans": [], "choices": {}, "family": "toy", "acts": [], **r} for r in rows]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requests")
    (folder / "data").mkdir()
    base_rows = [r for r in _rows() if r["requests"] != ["status"]]  # the base head never saw "status"
    (folder / "base_data").mkdir()
    (folder / "base_data" / "reader.jsonl").write_text("".join(json.dumps(r) + "\n" for r in base_rows))
    (folder / "data" / "reader.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    encoder = tiny_encoder()
    train_reader(ReaderSettings(data=folder / "base_data", out=folder / "base", hidden=16, tag_hidden=16, epochs=5,
                                tag_epochs=2, chars=0), encoder=encoder)
    settings = RequestsTuning(data=folder / "data", base=folder / "base", out=folder / "out", layers=1, epochs=12,
                              hidden=16, batch=8, lr=1e-3)
    return settings, tune_requests(settings, encoder=encoder), encoder


def test_examples_are_every_row_or_a_seeded_draw_with_a_column_per_class():
    texts, classes, y = request_examples(_rows(), 0, 0)
    assert classes == ["cancel", "modify_address", "return", "status"] and y.shape == (60, 4)
    assert y[texts.index("cancel my order")].tolist() == [1, 0, 0, 0] and y[texts.index("sure do it")].sum() == 0
    assert request_examples(_rows(), 7, 1)[0] == request_examples(_rows(), 7, 1)[0] and len(request_examples(_rows(), 7, 1)[0]) == 7
    with pytest.raises(RequestsTuningError, match="asks for no request"):
        request_examples([{"text": "hi", "requests": []}], 0, 0)


def test_the_tuned_head_replaces_the_requests_head_with_the_datas_classes(tuned):
    settings, report, encoder = tuned
    meta = json.loads((Path(settings.out) / "reader.json").read_text())
    assert meta["heads"]["requests"]["encoder"] == "tuned" and "status" in meta["heads"]["requests"]["labels"]
    with np.load(Path(settings.out) / "reader.npz") as arrays:
        assert {k.split(".")[4] for k in arrays.files if k.startswith("tuned_encoder.requests.")} == {"1"}
    reader = LearnedReader.load(settings.out, encoder=encoder)
    assert reader.requests_encoder is not None and "status" in reader.request_classes
    assert report["trained_on"]["requests"] == {"cancel": 10, "modify_address": 10, "return": 10, "status": 10}


def test_serving_reads_the_requests_training_taught(tuned):
    settings, _, encoder = tuned
    reader = LearnedReader.load(settings.out, encoder=encoder)
    for text, wanted in ASKS.items():
        assert reader.read(text).asked(0.5) == wanted, text
    assert set(reader.read(YES[0]).answer) == {"yes", "no", "neutral", "other"}  # the base's answer still reads


def test_a_reader_whose_tuned_layers_are_missing_is_refused(tuned, tmp_path):
    settings, _, encoder = tuned
    with np.load(Path(settings.out) / "reader.npz") as arrays:
        np.savez(tmp_path / "reader.npz", **{k: arrays[k] for k in arrays.files if not k.startswith("tuned_encoder.")})
    (tmp_path / "reader.json").write_text((Path(settings.out) / "reader.json").read_text())
    with pytest.raises(AgentSpecError, match="requests head and its tuned layers do not go together"):
        LearnedReader.load(tmp_path, encoder=encoder)


def test_missing_inputs_name_the_fix(tmp_path):
    with pytest.raises(RequestsTuningError, match="no reader data"):
        tune_requests(RequestsTuning(data=tmp_path, base=tmp_path, out=tmp_path / "o"), encoder=object())
