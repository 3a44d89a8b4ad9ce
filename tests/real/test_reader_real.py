"""The packaged reader (MiniLM encoder + trained heads) on sentences written for this test, in no family."""
from __future__ import annotations

import pytest

from agentspec.routing.reader import load_reader
from agentspec.spec import load_spec

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def reader():
    spec = load_spec("retail")
    return load_reader(spec.resolve_path(spec.understanding.reader)), spec.understanding


@pytest.mark.parametrize("text", ["Please go ahead.", "Of course", "yes, do it", "Sure thing, go ahead and do that."])
def test_a_clear_yes_confirms(reader, text):
    r, u = reader
    assert r.read(text).answered(u.yes_threshold, u.no_threshold) == "yes"


@pytest.mark.parametrize("text", ["y'all are great", "yes but use my paypal instead", "wait, how much will that be?",
                                  "Please go ahead... actually, no, let me think about it.", "thank you so much",
                                  "hmm, not sure", "yes?", "sure?", "Of course?", "ok\uff1f", "yes, do it... the blue one?"])
def test_anything_else_is_no_confirmation(reader, text):
    r, u = reader
    assert r.read(text).answered(u.yes_threshold, u.no_threshold) != "yes"


def test_a_plain_no_declines(reader):
    r, u = reader
    assert r.read("no, don't do that").answered(u.yes_threshold, u.no_threshold) == "no"


def test_a_name_given_with_its_zip_is_read_part_by_part(reader):
    slots = reader[0].read("Harper Khan here, zip 19029").slots
    assert slots == {"first_name": ["Harper"], "last_name": ["Khan"], "zip": ["19029"]}


@pytest.mark.parametrize(("text", "wanted"), [
    ("I want to return an item", "return"), ("I'd like to talk to a human", "transfer"),
    ("what's the tracking number for my order?", "status"),
    ("I don't want to cancel anything. exchange the earbuds for the blue ones", "exchange"),
])
def test_requests_in_words_no_family_wrote(reader, text, wanted):
    r, u = reader
    assert r.read(text).asked(u.request_threshold) == [wanted]


def test_a_read_message_is_plain_data(reader):
    reading = reader[0].read("Please cancel order #W1234567, I ordered it by mistake.")
    assert reading.asked(0.5) == ["cancel"] and reading.as_dict()["requests"]["cancel"] >= 0.5
