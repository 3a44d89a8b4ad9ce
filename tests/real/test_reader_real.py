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


@pytest.mark.parametrize("text", ["Please go ahead.", "Of course", "yes, do it", "Sure thing, go ahead and do that.",
                                  "\U0001F44D", "Ja, gerne.", "sounds good, go for it"])
def test_a_clear_yes_confirms(reader, text):
    r, u = reader
    assert r.read(text).answered(u.yes_threshold, u.no_threshold) == "yes"


@pytest.mark.parametrize("text", ["y'all are great", "yes but use my paypal instead", "wait, how much will that be?",
                                  "Please go ahead... actually, no, let me think about it.", "thank you so much",
                                  "hmm, not sure", "yes?", "sure?", "Of course?", "ok\uff1f", "yes, do it... the blue one?",
                                  "sure \U0001F644", "hmm \U0001F914", "yes I'm still here", "ok noted, let me think"])
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
    # an order's shipping address and the account's default address are different writes
    ("Could you change the address you have on file for me to 9 Harbor St, Newport RI 02840?", "account_address"),
    ("please send my order #W2345678 to 40 Pearl St, Boulder CO 80302 instead", "modify_address"),
])
def test_requests_in_words_no_family_wrote(reader, text, wanted):
    r, u = reader
    assert r.read(text).asked(u.request_threshold) == [wanted]


@pytest.mark.parametrize(("text", "wanted"), [
    ("ok next one, cancel it please", ["cancel"]), ("and also while you're here, a refund please", ["return"]),
    ("oh right, one more: swap it for another size pls", ["exchange"]),
    # an answer to the agent's question, after a phrase that often leads a request, asks for nothing
    ("Here you go: my paypal", []), ("Here it is: the order with the Desk Lamp", []),
    ("and also, thanks for the help", []),
])
def test_a_terse_request_after_an_opener_is_read_and_an_answer_is_none(reader, text, wanted):
    r, u = reader
    assert r.read(text).asked(u.request_threshold) == wanted


def test_a_read_message_is_plain_data(reader):
    reading = reader[0].read("Please cancel order #W1234567, I ordered it by mistake.")
    assert reading.asked(0.5) == ["cancel"] and reading.as_dict()["requests"]["cancel"] >= 0.5


def test_the_packaged_tuned_answer_is_served_as_it_was_trained(reader):
    """Each tuned member's top layers, run in NumPy by the reader, give the torch training pass's features."""
    import numpy as np
    import torch

    from agentspec.routing.emoji_names import spell_emoji
    from agentspec.routing.reader import TUNED_PREFIX, sentence_features
    from agentspec.train._top_layers import TopLayers as _TopLayers, batches as _batches, pooled as _pooled

    r = reader[0]
    assert len(r.tuned) >= 2
    texts = ["yes please, go ahead \U0001F44D", "no, leave it as it is"]
    spec = load_spec("retail")
    with np.load(spec.resolve_path(spec.understanding.reader) / "reader.npz") as arrays:
        for member, encoder in r.tuned.items():
            layers = r.meta["heads"][member]["trained_on"]["layers"]
            model = _TopLayers(r.encoder.tensors, layers, r.encoder.num_heads, r.encoder.layer_norm_eps)
            for name in model.tuned:
                model.tuned[name].data.copy_(torch.tensor(arrays[f"{TUNED_PREFIX}{member}.{name}"].astype(np.float32)))
            (rows, ids, mask), = _batches(torch, r.encoder.tokenizer, texts, 8)
            with torch.no_grad():
                pooled = _pooled(torch, model.upper(*model.lower_states(ids, mask)), mask).numpy()
            for row, i in enumerate(rows):
                (states,) = encoder.encode([spell_emoji(texts[i])])
                np.testing.assert_allclose(sentence_features(states.states[1:-1]), pooled[row], atol=1e-3)
