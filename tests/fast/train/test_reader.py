"""``train reader``: heads fitted on encoder features, saved, reloaded, measured; resumable; bad files refused.

The real MiniLM encoder never runs here (``tests/conftest.py`` forbids it): ``HashedWords`` stands in
for it, giving each word a fixed random vector (by its hash) plus its shape (a number, a capital), as
``agentspec.routing.encoder.TokenStates`` with [CLS] and [SEP] around the words.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import shutil

import numpy as np
import pytest

import agentspec.train.reader as reader_module
from agentspec.errors import AgentSpecError
from agentspec.routing.encoder import TokenStates
from agentspec.routing.reader import LearnedReader, char_features
from agentspec.train.reader import ReaderError, ReaderSettings, fit_head, train_reader

HIDDEN = 384  # MiniLM's state size: the features' widths (768, 3 x 384) are fixed by it


def _vector(word: str) -> np.ndarray:
    rng = np.random.default_rng(int(hashlib.sha256(word.lower().encode()).hexdigest()[:8], 16))
    v = rng.standard_normal(HIDDEN).astype(np.float32)
    v[0] = 4.0 * word.isdigit()
    v[1] = 4.0 * word[:1].isupper()
    return v


class HashedWords:
    """The encoder's interface (``encode(texts) -> [TokenStates]``), deterministic and instant."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def encode(self, texts: list[str]) -> list[TokenStates]:
        self.batches.append(len(texts))
        return [self._one(text) for text in texts]

    @staticmethod
    def _one(text: str) -> TokenStates:
        words = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]
        tokens = ("[CLS]", *(text[s:e] for s, e in words), "[SEP]")
        states = np.stack([_vector(t) for t in tokens])
        return TokenStates(states, tokens, ((0, 0), *words, (0, 0)), tuple(range(len(tokens))))


FIRST = ["Alice", "Bruno", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana"]
LAST = ["Lopez", "Smith", "Okafor", "Novak", "Tanaka", "Berg", "Moreau", "Kim"]
THINGS = ["lamp", "kettle", "jacket", "boots", "tent", "mug"]
REASONS = {"I no longer need it": "no longer needed", "I don't need it any more": "no longer needed",
           "I ordered it by mistake": "ordered by mistake", "it was a mistake": "ordered by mistake"}


def _row(parts: list[tuple[str, str | None]], family: str, **labels) -> dict:
    """A reader.jsonl example from (text, tag or None) parts: the spans are where the tagged parts landed."""
    text, spans = "", []
    for part, tag in parts:
        if tag is not None:
            spans.append([len(text), len(text) + len(part), tag])
        text += part
    return {"text": text, "requests": labels.get("requests", []), "answer": labels.get("answer", "other"),
            "spans": spans, "choices": {"reason": labels.get("reason", "none")}, "family": family}


def synthetic_rows(n: int, seed: int, family: str = "toy") -> list[dict]:
    """Cancels (with a reason or none), returns, yes, no and names with a zip, in turns."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            said, reason = rng.choice([*REASONS.items(), ("", "none")])
            tail = f" because {said}." if said else "."
            rows.append(_row([(f"Please cancel order #W{rng.randrange(10**6):06d}{tail}", None)], family,
                             requests=["cancel"], reason=reason))
        elif kind == 1:
            rows.append(_row([(f"I want to return the {rng.choice(THINGS)} from my order.", None)], family,
                             requests=["return"]))
        elif kind == 2:
            rows.append(_row([(rng.choice(["Yes, please go ahead.", "Yes, do it.", "Sure, go ahead."]), None)],
                             family, answer="yes"))
        elif kind == 3:
            rows.append(_row([(rng.choice(["No, please don't.", "No, leave it as it is.", "No thanks."]), None)],
                             family, answer="no"))
        else:
            rows.append(_row([("My name is ", None), (rng.choice(FIRST), "first_name"), (" ", None),
                              (rng.choice(LAST), "last_name"), (" and my zip is ", None),
                              (f"{rng.randrange(10**5):05d}", "zip"), (".", None)], family))
    return rows


def write_rows(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reader.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def settings(tmp_path, **kw) -> ReaderSettings:
    return ReaderSettings(**{"data": tmp_path / "data", "out": tmp_path / "reader", "hidden": 32, "tag_hidden": 32,
                             "epochs": 30, "tag_epochs": 10, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A reader trained once in a folder of its own (tests that change files work on a copy)."""
    folder = tmp_path_factory.mktemp("trained")
    write_rows(folder / "data", synthetic_rows(300, seed=0))
    write_rows(folder / "unseen", synthetic_rows(40, seed=1, family="other"))
    encoder = HashedWords()
    report = train_reader(settings(folder, eval_data=[folder / "unseen"]), encoder=encoder)
    return report, folder / "reader", encoder


# ---- fit_head ---------------------------------------------------------------------------------------

def test_fit_head_learns_a_separable_problem_with_either_kind():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 6)) * 4
    y = rng.integers(0, 3, size=300)
    x = (centres[y] + rng.standard_normal((300, 6))).astype(np.float32)
    head = fit_head(x, y, ["a", "b", "c"], "softmax", hidden=16, epochs=40, seed=0, batch=32)
    p = head.probabilities(x)
    assert p.shape == (300, 3) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (p.argmax(axis=1) == y).mean() >= 0.97
    # Independent labels: each sigmoid says one half-space; a row may have none, one or both.
    x = rng.standard_normal((400, 6)).astype(np.float32)
    multi = np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype(np.float32)
    head = fit_head(x, multi, ["first", "second"], "sigmoid", hidden=16, epochs=60, seed=0, batch=32, lr=1e-2)
    assert head.labels == ("first", "second") and ((head.probabilities(x) > 0.5) == multi).mean() >= 0.97


def test_fit_head_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    a, b = (fit_head(x, y, ["n", "p"], "softmax", hidden=8, epochs=3, seed=5) for _ in range(2))
    assert np.array_equal(a.w1, b.w1) and np.array_equal(a.probabilities(x), b.probabilities(x))


# ---- train_reader -----------------------------------------------------------------------------------

def test_train_reader_writes_the_reader_and_its_report(trained):
    report, out, _ = trained
    assert {p.name for p in out.iterdir()} >= {"reader.json", "reader.npz", "reader_report.json",
                                               "reader_report.png", "features.npz"}
    assert (out / "reader_report.png").stat().st_size > 1000
    meta = json.loads((out / "reader.json").read_text())
    assert meta["heads"]["requests"] == {"labels": ["cancel", "return"], "kind": "sigmoid", "chars": 1024}
    assert "chars" not in meta["heads"]["tags"]  # the tagger reads token states only
    assert meta["heads"]["answer"]["labels"] == ["yes", "no", "neutral", "other"]
    assert meta["heads"]["choice.reason"]["labels"] == ["no longer needed", "none", "ordered by mistake"]
    assert meta["heads"]["tags"]["labels"] == ["O", "B-first_name", "I-first_name", "B-last_name", "I-last_name",
                                               "B-zip", "I-zip"]
    assert meta["trained_on"]["examples"] == 270 and meta["trained_on"]["families"] == ["toy"]
    assert json.loads((out / "reader_report.json").read_text()) == report
    # Measured on held-out texts of the training wording and, apart, on wording never trained on.
    assert list(report["evaluations"]) == ["training wording, held-out texts", "other (never trained on)"]
    held = report["evaluations"]["training wording, held-out texts"]
    assert held["examples"] == 30 and report["evaluations"]["other (never trained on)"]["examples"] == 40
    assert held["requests_exact"] >= 0.9 and held["answer_accuracy"] >= 0.9 and held["false_yes"] == 0
    assert held["tags"]["first_name"]["f1"] >= 0.8 and held["tags"]["zip"]["f1"] >= 0.8


def test_the_saved_reader_reads_requests_answers_slots_and_choices(trained):
    _, out, encoder = trained
    reader = LearnedReader.load(out, encoder=encoder)
    assert reader.request_classes == ("cancel", "return") and reader.tags == ("first_name", "last_name", "zip")
    assert reader.choice_heads == {"reason": ("no longer needed", "none", "ordered by mistake")}
    cancel = reader.read("Please cancel order #W000123 because I ordered it by mistake.")
    assert cancel.asked(0.5) == ["cancel"] and cancel.chosen("reason", 0.5) == "ordered by mistake"
    assert cancel.answered(0.9, 0.6) == "unsure"
    assert reader.read("Yes, please go ahead.").answered(0.9, 0.6) == "yes"
    assert reader.read("No, please don't.").answered(0.9, 0.6) == "no"
    name = reader.read("My name is Dana Okafor and my zip is 12345.")
    assert name.asked(0.5) == [] and name.slots == {"first_name": ["Dana"], "last_name": ["Okafor"], "zip": ["12345"]}


def test_a_rerun_reuses_the_encoded_features_and_encodes_only_new_messages(trained, tmp_path, monkeypatch):
    report, out, _ = trained
    shutil.copytree(out.parent, tmp_path, dirs_exist_ok=True)
    real_features = reader_module._features

    def forbidden(*args, **kwargs):
        raise AssertionError("features were encoded again")

    monkeypatch.setattr(reader_module, "_features", forbidden)
    again = train_reader(settings(tmp_path, eval_data=[tmp_path / "unseen"]), encoder=HashedWords())
    assert again == report  # the same features and seed: the same heads and measures
    encoded = []
    monkeypatch.setattr(reader_module, "_features", lambda rows, *a, **k: encoded.append(len(rows))
                        or real_features(rows, *a, **k))
    rows = synthetic_rows(320, seed=0)
    rows[5] = {**rows[5], "text": rows[5]["text"] + " (changed)"}
    write_rows(tmp_path / "data", rows)
    train_reader(settings(tmp_path), encoder=HashedWords())
    assert 1 <= encoded[0] < 320  # the changed and the new messages (and rows newly tagged), not all
    # What was reused equals what a run from nothing computes.
    fresh = tmp_path / "fresh"
    write_rows(fresh / "data", rows)
    train_reader(settings(fresh), encoder=HashedWords())
    with np.load(tmp_path / "reader" / "features.npz") as reused, np.load(fresh / "reader" / "features.npz") as full:
        for name in ("sentence", "tokens", "token_labels", "token_owner"):
            assert np.array_equal(reused[name], full[name]), name


def test_reader_data_problems_are_clear_errors(tmp_path):
    with pytest.raises(ReaderError, match="no reader data") as missing:
        train_reader(settings(tmp_path), encoder=HashedWords())
    assert "agentspec train reader-data" in missing.value.hint
    write_rows(tmp_path / "data", synthetic_rows(10, seed=0))
    with pytest.raises(ReaderError, match="has 10 examples"):
        train_reader(settings(tmp_path), encoder=HashedWords())
    (tmp_path / "data" / "reader.jsonl").write_text('{"text": "hello"}\n{"text": \n')
    with pytest.raises(ReaderError, match=r"reader.jsonl:2 is not JSON"):
        train_reader(settings(tmp_path), encoder=HashedWords())
    assert not (tmp_path / "reader").exists()  # nothing half-written


# ---- LearnedReader.load -----------------------------------------------------------------------------

def test_a_missing_or_corrupt_reader_folder_is_a_clear_error(trained, tmp_path):
    _, out, encoder = trained
    with pytest.raises(AgentSpecError) as missing:
        LearnedReader.load(tmp_path / "nowhere", encoder=encoder)
    assert missing.value.code == "reader_missing" and "agentspec train reader" in missing.value.hint
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "reader.npz").write_bytes((out / "reader.npz").read_bytes())
    (broken / "reader.json").write_text((out / "reader.json").read_text()[:40])  # cut short
    with pytest.raises(AgentSpecError) as corrupt:
        LearnedReader.load(broken, encoder=encoder)
    assert corrupt.value.code == "reader_corrupt" and str(broken) in corrupt.value.message
    (broken / "reader.json").write_text((out / "reader.json").read_text())
    (broken / "reader.npz").write_bytes(b"not a zip file")
    with pytest.raises(AgentSpecError) as corrupt:
        LearnedReader.load(broken, encoder=encoder)
    assert corrupt.value.code == "reader_corrupt"
    meta = json.loads((out / "reader.json").read_text())
    del meta["heads"]["answer"]
    (broken / "reader.json").write_text(json.dumps(meta))
    (broken / "reader.npz").write_bytes((out / "reader.npz").read_bytes())
    with pytest.raises(AgentSpecError, match="no 'answer' head") as headless:
        LearnedReader.load(broken, encoder=encoder)
    assert headless.value.code == "reader_corrupt"


def test_a_reader_is_measured_on_a_held_out_family_with_its_replies_apart(trained, tmp_path, shared_data):
    # The toy reader reads nothing of retail well; what is checked is the measurement: a held-out family is
    # allowed here (evaluation, the held-out users' values), and the replies to a stated write are apart.
    from agentspec.evals.wording import family_names, load_family
    from agentspec.train.reader import evaluate_on_family

    heldout = next(name for name in family_names() if load_family(name).heldout)
    _, folder, encoder = trained
    report = evaluate_on_family(folder, heldout, shared_data / "tau2-retail" / "db.json", tmp_path / "eval", n=120,
                                encoder=encoder)
    every, replies = report["evaluations"]["every message"], report["evaluations"]["replies to a stated write"]
    assert report["family"] == heldout and every["examples"] == 120 and 0 < replies["examples"] < 120
    assert {"false_yes", "answer_accuracy", "requests_exact"} <= set(replies)
    assert (tmp_path / "eval" / "reader_eval.json").is_file() and (tmp_path / "eval" / "reader_eval.png").is_file()


def test_two_readers_heads_merge_each_head_with_its_own_training_record(trained, tmp_path):
    from agentspec.train.reader_merge import merge_readers

    _, out, encoder = trained
    donor = tmp_path / "donor"
    shutil.copytree(out, donor)
    meta = json.loads((donor / "reader.json").read_text())
    meta["trained_on"] = {"families": ["safe"]}
    (donor / "reader.json").write_text(json.dumps(meta))
    with np.load(donor / "reader.npz") as arrays:
        weights = {k: np.asarray(arrays[k]) for k in arrays.files}
    bias = "answer.b2" if "answer.b2" in weights else "answer.b1"  # the output layer's
    weights[bias] = weights[bias] + 100.0 * (np.arange(weights[bias].shape[-1]) == 1)  # always "no"
    np.savez(donor / "reader.npz", **weights)

    merged = merge_readers(out, donor, ["answer"], tmp_path / "merged")
    assert merged["heads"]["answer"]["trained_on"] == {"families": ["safe"]}
    assert merged["heads"]["tags"]["trained_on"] == merged["trained_on"] != {"families": ["safe"]}
    reader = LearnedReader.load(tmp_path / "merged", encoder=encoder)
    assert reader.read("Yes, please go ahead.").answered(0.9, 0.6) == "no"  # the donor's answer head
    assert reader.read("My name is Dana Okafor and my zip is 12345.").slots["zip"] == ["12345"]  # the base's tags

    with pytest.raises(ReaderError, match="is not in"):
        merge_readers(out, donor, ["nonsense"], tmp_path / "bad")
    # A choice head the base lacks is added (a new reading); any other missing head is refused.
    base = tmp_path / "base"
    shutil.copytree(out, base)
    lacking = json.loads((base / "reader.json").read_text())
    del lacking["heads"]["choice.reason"]
    (base / "reader.json").write_text(json.dumps(lacking))
    assert "reason" not in LearnedReader.load(base, encoder=encoder).choice_heads
    added = merge_readers(base, out, ["choice.reason"], tmp_path / "added")
    assert "choice.reason" in added["heads"]
    assert "reason" in LearnedReader.load(tmp_path / "added", encoder=encoder).choice_heads
    del lacking["heads"]["answer"]
    (base / "reader.json").write_text(json.dumps(lacking))
    with pytest.raises(ReaderError, match="only a choice head or a tuned answer may be added"):
        merge_readers(base, out, ["answer"], tmp_path / "bad")
    meta["encoder"] = "another-encoder"
    (donor / "reader.json").write_text(json.dumps(meta))
    with pytest.raises(ReaderError, match="different features"):
        merge_readers(out, donor, ["answer"], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


class _TableHead:
    """A head whose probabilities are rows of a table, picked by each feature row's first value."""

    labels = ("no longer needed", "none", "ordered by mistake")

    def __init__(self, table: list[list[float]]) -> None:
        self.table = np.asarray(table)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self.table[x[:, 0].astype(int)]


def test_a_choice_one_part_says_for_sure_outweighs_the_diluted_whole():
    whole, plain, reason, other_reason = [0.97, 0.0, 0.03], [0.01, 0.99, 0.0], [0.0, 0.01, 0.99], [0.99, 0.01, 0.0]
    head = _TableHead([whole, plain, reason, other_reason])
    x, parts = np.array([[0.0]]), np.array([[1.0], [1.0], [2.0]])
    assert list(LearnedReader._choice(head, x, parts)) == reason  # the preamble's parts say nothing
    assert list(LearnedReader._choice(head, x, np.array([[1.0], [2.0], [3.0]]))) == whole  # parts disagree
    assert list(LearnedReader._choice(head, x, np.array([[1.0], [1.0]]))) == whole  # no part is sure
    assert list(LearnedReader._choice(head, x, None)) == whole  # a short message is read whole


def test_character_features_of_a_typo_stay_close_to_the_words():
    # Word pieces split "plaese procede" into pieces unrelated to "please proceed"; most of its
    # character n-grams stay, and another request's are far.
    def cosine(a: str, b: str) -> float:
        return float(char_features(a, 1024) @ char_features(b, 1024))

    assert cosine("Please proceed.", "plaese  procede") > 0.5
    assert cosine("Please proceed.", "cancel my order") < 0.2
    assert abs(float(np.linalg.norm(char_features("anything", 256))) - 1.0) < 1e-5
    assert char_features("Yes", 64).tolist() == char_features("  yes ", 64).tolist()  # case and spacing


def test_sentence_heads_read_characters_and_a_yes_needs_both_readings(tmp_path):
    write_rows(tmp_path / "data", synthetic_rows(300, seed=0))
    for chars in (0, 512):
        report = train_reader(settings(tmp_path, out=tmp_path / f"r{chars}", chars=chars), encoder=HashedWords())
        held = report["evaluations"]["training wording, held-out texts"]
        assert held["requests_exact"] >= 0.9 and held["false_yes"] == 0
        reader = LearnedReader.load(tmp_path / f"r{chars}", encoder=HashedWords())
        assert reader.heads["requests"].chars == chars and reader.heads["tags"].chars == 0
        assert ("answer_check" in reader.heads) == bool(chars)
        assert reader.read("Yes, please go ahead.").answered(0.98, 0.6) == "yes"
        assert reader.read("No, please don't.").answered(0.98, 0.6) == "no"


def test_a_reply_that_asks_something_back_is_never_a_yes(tmp_path):
    write_rows(tmp_path / "data", synthetic_rows(300, seed=0))
    train_reader(settings(tmp_path, out=tmp_path / "r", chars=512), encoder=HashedWords())
    reader = LearnedReader.load(tmp_path / "r", encoder=HashedWords())
    assert reader.read("Yes, please go ahead.").answered(0.98, 0.6) == "yes"
    for asked in ("Yes, please go ahead?", "Yes, please go ahead\uff1f", "Yes, please go ahead\u061f",
                  "\u00bfYes, please go ahead.", "Yes, please go ahead. Is that the blue one?"):
        reading = reader.read(asked)
        assert reading.answered(0.98, 0.6) != "yes" and reading.answer["yes"] == 0.0, asked
        assert abs(sum(reading.answer.values()) - 1.0) < 1e-6


class _PartlyUnread(HashedWords):
    """HashedWords whose vocabulary lacks one character: a text holding it has an unread token."""

    @staticmethod
    def _one(text: str) -> TokenStates:
        states = HashedWords._one(text.replace("\u2603", ""))
        return dataclasses.replace(states, unread=text.count("\u2603"))


def test_a_reply_the_encoder_did_not_read_whole_is_never_a_yes(tmp_path):
    write_rows(tmp_path / "data", synthetic_rows(300, seed=0))
    train_reader(settings(tmp_path, out=tmp_path / "r", chars=512), encoder=HashedWords())
    reader = LearnedReader.load(tmp_path / "r", encoder=_PartlyUnread())
    assert reader.read("Yes, please go ahead.").answered(0.98, 0.6) == "yes"
    reading = reader.read("Yes, please go ahead. \u2603")
    assert reading.answered(0.98, 0.6) != "yes" and reading.answer["yes"] == 0.0
    assert reader.read("No, please don't. \u2603").answered(0.98, 0.6) == "no"  # only a yes needs the whole

