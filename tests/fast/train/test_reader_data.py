"""The reader's training messages: labels by construction, exact spans after noise, training users only."""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentspec.evals.generate import user_split
from agentspec.evals.wording import load_family, training_families
from agentspec.train._spans import TemplateError, fill, flatten, lowered, roughen, tagged
from agentspec.train._values import SUFFIXES, Store, names, where
from agentspec.train.cli import train_group
from agentspec.train.reader_data import (REQUEST_CLASS, TAGS, ReaderDataError, generate_reader_examples,
                                         write_reader_data)

CLASSES = {"cancel", "modify_address", "account_address", "modify_payment", "modify_items", "exchange", "return", "status", "transfer",
           "product"}
BARE = {"bare_cancel": "cancel", "bare_return": "return", "bare_exchange": "exchange", "bare_modify": "modify_items",
        "bare_address": "modify_address", "bare_payment": "modify_payment", "bare_status": "status",
        "bare_human": "transfer", "bare_user_address": "account_address"}
LOOSE = {"loose_exchange": "exchange", "loose_return": "return", "loose_modify": "modify_items",
         "brief_exchange": "exchange", "brief_modify": "modify_items"}
N = 1920  # a multiple of the six training families
_LONG = {short.lower(): long.lower() for long, short in SUFFIXES.items()}


@lru_cache(maxsize=1)
def _db(path: str) -> dict:
    return json.loads(Path(path).read_text())


@lru_cache(maxsize=1)
def _examples(path: str) -> tuple:
    families = [load_family(name) for name in training_families()]
    return tuple(generate_reader_examples(_db(path), families, N, seed=0))


@lru_cache(maxsize=1)
def _more(path: str) -> tuple:
    """3000 examples of another seed: kinds too rare for ``_examples`` (wrapped bare requests, openers, answers)."""
    families = [load_family(name) for name in training_families()]
    return tuple(generate_reader_examples(_db(path), families, 3000, seed=2))


@pytest.fixture
def db_path(shared_data) -> str:
    return str(shared_data / "tau2-retail" / "db.json")


@pytest.fixture
def examples(db_path) -> tuple:
    return _examples(db_path)


def _values(db: dict, ids: list[str]) -> dict[str, set[str]]:
    """Every value each tag may take among these users."""
    found: dict[str, set[str]] = {tag: set() for tag in TAGS}
    for uid in ids:
        user = db["users"][uid]
        found["first_name"].add(user["name"]["first_name"])
        found["last_name"].add(user["name"]["last_name"])
        for key in ("zip", "address1", "address2", "city", "state", "country"):
            found[key].add(user["address"][key])
    return found


def _canon(tag: str, said: str) -> str:
    """A rendered value back in the db's form, lowercased: "12 Oak St." -> "12 oak street", "#4" -> "suite 4"."""
    low = said.lower()
    if tag == "address1":
        head, _, suffix = low.rpartition(" ")
        low = f"{head} {_LONG.get(suffix.rstrip('.'), suffix)}"
    elif tag == "address2":
        low = re.sub(r"^(?:ste\.?|apt\.?|unit|#) ?", "suite ", low)
    return low


def _said(ex: dict) -> dict[str, str]:
    """The first span of each tag, as it reads in the text."""
    got: dict[str, str] = {}
    for s, e, tag in ex["spans"]:
        got.setdefault(tag, ex["text"][s:e])
    return got


def test_every_span_is_exactly_a_training_users_value(db_path, examples):
    db = _db(db_path)
    train, _ = user_split(db, seed=0, eval_fraction=0.3)
    allowed = {tag: {v.lower() for v in values} for tag, values in _values(db, train).items()}
    people = {(db["users"][u]["name"]["first_name"].lower(), db["users"][u]["name"]["last_name"].lower(),
               db["users"][u]["address"]["zip"]) for u in train}
    for ex in examples:
        text, last_end = ex["text"], 0
        for start, end, tag in ex["spans"]:
            assert last_end <= start < end <= len(text), ex  # sorted, non-overlapping
            last_end = end
            said = text[start:end]
            assert said == said.strip() and _canon(tag, said) in allowed[tag], (tag, said, ex)
            if tag in ("address1", "address2"):  # the span ends where the value does, not inside a word
                assert end == len(text) or not text[end].isalnum(), (tag, said, ex)
        if ex["acts"][:1] == ["name_zip"]:  # a name and zip of one training user (then maybe an address's zip)
            got = _said(ex)
            assert (got["first_name"].lower(), got["last_name"].lower(), got["zip"]) in people, ex


def test_addresses_and_names_are_said_as_customers_type_them(examples):
    addresses = [(ex, _said(ex)) for ex in examples if "address1" in _said(ex)]
    line1 = [got["address1"] for _, got in addresses if got["address1"].split()[-1].lower() != "broadway"]
    short = [a for a in line1 if a.split()[-1].rstrip(".").lower() in _LONG]
    assert 0.2 < len(short) / len(line1) < 0.6, (len(short), len(line1))
    assert any(a.endswith(".") for a in short) and any(not a.endswith(".") for a in short)
    line2 = [got["address2"].lower() for _, got in addresses]
    assert {"suite", "ste", "ste.", "apt", "apt.", "unit"} <= {a.split()[0] for a in line2 if not a.startswith("#")}
    assert any(a.startswith("#") for a in line2)
    plain = [(ex, got) for ex, got in addresses if "lowercase" not in ex["noise"]]
    assert any(got["address1"].islower() and got.get("city", "x").islower() for _, got in plain)
    assert any(ex["acts"] == ["where"] and "," not in ex["text"] and ";" not in ex["text"] for ex in examples)
    people = [_said(ex) for ex in examples if "name_zip" in ex["acts"] and "lowercase" not in ex["noise"]]
    assert any(p["first_name"].islower() or p["last_name"].islower() for p in people)
    assert any(p["first_name"].istitle() and p["last_name"].istitle() for p in people)


def test_where_spans_are_exact_whatever_is_drawn(db_path):
    db = _db(db_path)
    train, _ = user_split(db, seed=0, eval_fraction=0.3)
    store = Store(db, [db["users"][u] for u in train])
    family = load_family(training_families()[0])
    bare = 0
    for seed in range(300):
        rng = random.Random(seed)
        said = where(family, rng, store)
        text, spans = flatten(said.segments)
        assert said.acts == ("where",)
        parts = {tag: text[s:e] for s, e, tag in spans}
        said_as = {tag: _canon(tag, value) for tag, value in parts.items()}
        users = [u for u in store.users if all(u["address"][t].lower() == v for t, v in said_as.items())]
        assert users, (seed, parts, text)  # every part exactly one training user's, as rendered
        user = users[0]
        bare += "," not in text and ";" not in text and "/" not in text
        first = names(rng, user)
        assert {k: v.plain.lower() for k, v in first.items()} == \
            {"first": user["name"]["first_name"].lower(), "last": user["name"]["last_name"].lower()}
    assert 15 < bare < 120
    assert lowered(said).plain == said.plain.lower() and lowered(said).acts == said.acts


def test_no_eval_users_name_or_email_appears(db_path, examples):
    db = _db(db_path)
    train, held = user_split(db, seed=0, eval_fraction=0.3)
    names = lambda ids: {f"{db['users'][u]['name']['first_name']} {db['users'][u]['name']['last_name']}".lower()
                         for u in ids}
    eval_only = names(held) - names(train)
    emails = {db["users"][u]["email"].lower() for u in held}
    assert eval_only and emails
    for ex in examples:
        low = ex["text"].lower()
        assert not any(name in low for name in eval_only), ex
        assert not any(email in low for email in emails), ex


def test_every_class_answer_tag_reason_and_noise_appears(examples):
    assert {r for ex in examples for r in ex["requests"]} == CLASSES
    assert Counter(ex["answer"] for ex in examples).keys() == {"yes", "no", "neutral", "other"}
    assert {tag for ex in examples for _, _, tag in ex["spans"]} == set(TAGS)
    assert {ex["choices"]["reason"] for ex in examples} == {"no longer needed", "ordered by mistake", "none"}
    assert {ex["choices"]["remember"] for ex in examples} == {"payment_method", "none"}
    assert {k for ex in examples for k in ex["noise"]} == {"lowercase", "no_capital", "no_punctuation", "typo",
                                                          "whitespace"}
    assert set(Counter(ex["family"] for ex in examples).values()) == {N // len(training_families())}
    assert sum(not ex["requests"] for ex in examples) > N / 5  # messages that ask for nothing are many


def test_labels_follow_the_fields_used(examples):
    for ex in examples:
        asked = [REQUEST_CLASS[a] for a in ex["acts"] if a in REQUEST_CLASS]
        assert ex["requests"] == sorted(set(asked)) and len(asked) == len(set(asked)), ex  # distinct per message
        assert (ex["answer"] == "yes") == (ex["acts"] in (["yes"], ["yes_restated"])), ex
        assert (ex["answer"] == "no") == (ex["acts"] == ["no"]), ex
        said_reason = {"reason_not_needed", "reason_by_mistake"} & set(ex["acts"])
        assert (ex["choices"]["reason"] != "none") == bool(said_reason), ex
        if said_reason:  # with its cancel, or alone (the answer to "why?")
            assert "cancel" in ex["acts"] or ex["acts"] == sorted(said_reason)
    alone = [ex for ex in examples if ex["acts"] in (["reason_not_needed"], ["reason_by_mistake"])]
    assert alone and all(ex["answer"] == "other" and ex["requests"] == [] for ex in alone)
    multi = [ex for ex in examples if len(ex["requests"]) >= 2]
    assert multi and any(len(ex["requests"]) == 3 for ex in multi)
    negated = [ex for ex in examples if ex["acts"][0].startswith("not_")]
    assert any(ex["requests"] for ex in negated) and any(not ex["requests"] for ex in negated)
    polite = [ex for ex in examples if any(a.startswith("not_") for a in ex["acts"]) and
              set(ex["acts"]) & {"greetings", "unrelated", "done"}]
    assert polite and all(ex["requests"] == [] for ex in polite if not set(ex["acts"]) & set(REQUEST_CLASS))


def test_an_orders_address_and_the_accounts_address_are_two_requests(examples):
    """An order's shipping address and the account's default address are written by different tools: the
    reader learns them apart, and a negated address change stands beside neither."""
    assert REQUEST_CLASS["address"] == REQUEST_CLASS["bare_address"] == "modify_address"
    assert REQUEST_CLASS["user_address"] == "account_address"
    said = {cls: [ex for ex in examples if [a for a in ex["acts"] if a in REQUEST_CLASS] == [field]]
            for field, cls in (("address", "modify_address"), ("user_address", "account_address"))}
    assert all(said.values()) and all(ex["requests"] == [cls] for cls, exs in said.items() for ex in exs)
    negated = [ex for ex in examples if "not_address" in ex["acts"]]
    assert negated and not any({"modify_address", "account_address"} & set(ex["requests"]) for ex in negated)


def test_a_lasting_preference_is_labelled_to_remember_and_a_mere_mention_is_not(examples):
    kept = [ex for ex in examples if ex["choices"]["remember"] == "payment_method"]
    assert kept and all("prefer_payment" in ex["acts"] for ex in kept)
    assert any(ex["requests"] for ex in kept) and any(not ex["requests"] for ex in kept)  # beside a request or alone
    mentions = [ex for ex in examples if {"mention_payment", "not_prefer_payment"} & set(ex["acts"])]
    assert {a for ex in mentions for a in ex["acts"]} >= {"mention_payment", "not_prefer_payment"}
    assert all(ex["choices"]["remember"] == "none" and ex["answer"] == "other" for ex in mentions)


def test_a_yes_that_restates_the_action_is_a_yes_and_one_that_only_resembles_a_yes_is_not(examples):
    restated = [ex for ex in examples if "yes_restated" in ex["acts"]]
    resembling = [ex for ex in examples if "resembles_yes" in ex["acts"]]
    assert restated and all(ex["answer"] == "yes" and ex["requests"] == [] for ex in restated)
    assert resembling and all(ex["answer"] == "other" and ex["requests"] == [] for ex in resembling)


def test_a_family_without_the_optional_fields_gives_no_such_examples(db_path, tmp_path):
    import yaml

    data = yaml.safe_load((Path(str(files("agentspec.evals"))) / "wordings" / "alder.yaml").read_text())
    for field in ("prefer_payment", "mention_payment", "not_prefer_payment", "yes_restated", "resembles_yes",
                  "brief_exchange", "brief_modify", "bare_user_address"):
        data.pop(field)
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(data))
    plain = load_family(path)
    assert not plain.has("prefer_payment")
    rows = generate_reader_examples(_db(db_path), [plain], 600, seed=1)
    assert all(ex["choices"]["remember"] == "none" for ex in rows)
    used = {a for ex in rows for a in ex["acts"]}
    assert not {"prefer_payment", "mention_payment", "yes_restated", "resembles_yes", "brief_exchange",
                "bare_user_address"} & used
    assert {"loose_exchange", "loose_modify"} <= used  # the classes are still said loosely, by the other fields
    data["prefer_payment"] = ["always {method}"]  # present: its minimum holds
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match="prefer_payment: 1 distinct templates, at least 10"):
        load_family(path)


def test_bare_and_loose_requests_in_every_context(examples, db_path):
    assert {a: c for a, c in REQUEST_CLASS.items() if a in BARE or a in LOOSE} == BARE | LOOSE
    used = {a for ex in examples for a in ex["acts"]}
    assert set(BARE) | set(LOOSE) <= used
    single = [ex for ex in examples if ex["acts"][0] in REQUEST_CLASS and len(ex["requests"]) == 1
              and not set(ex["acts"]) & {"email", "name_zip"}]  # one request, nothing around it
    short = sum(ex["acts"][0] in BARE or ex["acts"][0] in LOOSE for ex in single)
    assert 0.2 < short / len(single) < 0.45, (short, len(single))  # about a third
    for fields in (set(BARE), set(LOOSE)):
        assert any(ex["acts"][0] in fields and len(ex["acts"]) == 1 for ex in examples)  # alone
        assert any(set(ex["acts"]) & fields and len(ex["requests"]) >= 2 for ex in examples)  # among other requests
        assert any(a == "next" and b in fields for ex in examples for a, b in zip(ex["acts"], ex["acts"][1:]))
    assert any(ex["acts"][0] == "greetings" and ex["acts"][1] in BARE for ex in examples)
    assert any(ex["acts"][0] in ("email", "name_zip") and ex["acts"][-1] in BARE for ex in examples)  # identity first
    wrapped = _more(db_path)  # bare requests wrapped are rare
    assert {ex["acts"][0] for ex in wrapped if ex["acts"][1:2] and ex["acts"][1] in BARE} >= {"next", "state",
                                                                                              "restate"}


def test_another_requests_opener_from_any_family_comes_before_a_short_request_or_none(db_path):
    families = [load_family(name) for name in training_families()]
    opened = [ex for ex in _more(db_path) if ex["kind"] == "opened"]
    assert 0.03 < len(opened) / 3000 < 0.09  # 10 of 176
    assert all(ex["acts"][0] == "next" for ex in opened)
    none = [ex for ex in opened if not ex["requests"]]
    assert 0.1 < len(none) / len(opened) < 0.3 and all(ex["acts"][1] in ("done", "unrelated") for ex in none)
    said = [ex for ex in opened if ex["requests"]]
    short = sum(ex["acts"][1] in BARE or ex["acts"][1] in LOOSE for ex in said)
    assert 0.55 < short / len(said) < 0.9, (short, len(said))  # bare half, loose a quarter (some fall back to bare)
    openers = {f.name: [t.split("{r}")[0].strip() for t in f["next"]] for f in families}
    clean = [ex for ex in opened if not ex["noise"]]
    crossed = [ex for ex in clean if not any(ex["text"].startswith(o) for o in openers[ex["family"]] if o)
               and any(ex["text"].startswith(o) for other in openers.values() for o in other if o)]
    assert crossed, "no opener of another family"


def test_an_answer_to_the_agents_question_is_no_request_even_after_the_state_phrase(db_path):
    stated = [ex for ex in _more(db_path) if ex["kind"] == "stated_answer"]
    assert 0.015 < len(stated) / 3000 < 0.05  # 6 of 182
    assert all(ex["requests"] == [] and ex["answer"] == "other" for ex in stated)
    values = {"method_value", "items_value", "order_with", "order_id"}
    assert all(set(ex["acts"]) - {"state"} <= values and set(ex["acts"]) & values for ex in stated)
    assert {a for ex in stated for a in ex["acts"]} == values | {"state"}
    assert 0.5 < sum(ex["acts"][0] == "state" for ex in stated) / len(stated) < 0.9  # 70% after the state phrase


def test_a_brief_request_names_the_items_and_variants_wanted_and_nothing_else(examples, db_path):
    db = _db(db_path)
    order_ids = {oid.lstrip("#") for oid in db["orders"]}
    brief = [ex for ex in examples if ex["acts"][0] in ("brief_exchange", "brief_modify")]
    assert {ex["acts"][0] for ex in brief} == {"brief_exchange", "brief_modify"}
    for ex in brief:
        assert LOOSE[ex["acts"][0]] in ex["requests"]
        assert ex["acts"][1] == "swap"  # the items and the variants wanted fill {parts}
    alone = [ex for ex in brief if len(ex["requests"]) == 1]
    assert alone
    for ex in alone:
        assert ex["requests"] == [LOOSE[ex["acts"][0]]]
        assert not {"order_with", "order_id", "payment"} & set(ex["acts"])
        assert not any(oid in ex["text"] for oid in order_ids), ex["text"]
    negated = [ex for ex in examples if ex["acts"][0].startswith("not_") or ex["acts"][-1].startswith("not_")]
    assert any(set(ex["acts"]) & {"brief_exchange", "brief_modify"} for ex in negated)  # beside a correction too


def test_deterministic_per_seed_and_per_index(db_path, examples):
    db = _db(db_path)
    families = [load_family(name) for name in training_families()]
    assert generate_reader_examples(db, families, 40, seed=0) == list(examples[:40])  # example i ignores n
    other = generate_reader_examples(db, families, 40, seed=1)
    assert other != list(examples[:40]) and other == generate_reader_examples(db, families, 40, seed=1)


def test_held_out_family_is_refused(db_path, tmp_path):
    source = Path(str(files("agentspec.evals"))) / "wordings" / "alder.yaml"
    text = source.read_text().replace("heldout: false", "heldout: true").replace("name: alder", "name: secret")
    assert "heldout: true" in text
    (tmp_path / "secret.yaml").write_text(text)
    family = load_family(tmp_path / "secret.yaml")
    assert family.heldout
    with pytest.raises(ReaderDataError, match="held out"):
        generate_reader_examples(_db(db_path), [load_family("alder"), family], 5)
    with pytest.raises(ReaderDataError, match="held out"):
        write_reader_data(db_path, tmp_path / "out", 5, families=[str(tmp_path / "secret.yaml")], progress=False)
    assert not (tmp_path / "out" / "reader.jsonl").exists()


def test_fill_keeps_spans_through_nesting_braces_and_noise():
    import random

    street = fill("{a}, {b}", a=tagged("12 Elm St", "address1"), b=tagged("Apt 4", "address2"))
    where = fill("{street} in {city}, {{zip}}", "where", street=street, city=tagged("Denver", "city"))
    said = fill("Send {o} to {where}.", "address", o=tagged("#W1", "_id"), where=where)
    assert said.acts == ("address", "where")
    text, spans = flatten(said.segments)
    assert text == "Send #W1 to 12 Elm St, Apt 4 in Denver, {zip}."
    assert [(text[s:e], t) for s, e, t in spans] == [("12 Elm St", "address1"), ("Apt 4", "address2"),
                                                     ("Denver", "city")]
    for seed in range(200):
        segs, _ = roughen(said.segments, random.Random(seed))
        text, spans = flatten(segs)
        assert [text[s:e].lower() for s, e, _ in spans] == ["12 elm st", "apt 4", "denver"]
        assert "#w1" in text.lower()
    with pytest.raises(TemplateError, match="not filled"):
        fill("Cancel {o} now {x}", "cancel", o="it")


def test_write_reader_data_and_cli(db_path, tmp_path):
    meta = write_reader_data(db_path, tmp_path / "a", 30, seed=3, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "a" / "reader.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and json.loads((tmp_path / "a" / "reader_meta.json").read_text()) == meta
    assert meta["families"] == training_families() and sum(meta["answers"].values()) == 30
    assert sum(meta["per_family"].values()) == 30
    result = CliRunner().invoke(train_group, ["reader-data", "--db", db_path, "--out", str(tmp_path / "b"),
                                              "--n", "30", "--seed", "3", "--family", "cedar"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "b" / "reader.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and {r["family"] for r in rows} == {"cedar"}
    with pytest.raises(ReaderDataError, match="no db"):
        write_reader_data(tmp_path / "missing.json", tmp_path / "c", 3, progress=False)
