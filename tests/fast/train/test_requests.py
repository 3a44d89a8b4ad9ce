"""The request classifier: labels from training rows, held-out accuracy, thresholded classes, bad files."""
from __future__ import annotations

import json

import pytest

from agentspec.errors import AgentSpecError
from agentspec.train.requests import NONE, RequestClassifier, request_examples, train_requests
from agentspec.train.router import Router

ASK_ID = '{"reply": "Sure. To verify your identity, could you give me your email address, or your name and zip code?"}'
CONFIRM = '{"reply": "I\'m about to cancel order #W0000002 (reason: no longer needed). Shall I proceed? (yes/no)"}'
CALL = '{"calls": [{"name": "get_order_details", "arguments": {"order_id": "#W0000002"}}]}'
DONE = '{"reply": "Your order #W0000002 has been cancelled."}'

REQUESTS = {
    "cancel": ["Please cancel my order {o}, I no longer need it.", "I want to cancel order {o}, ordered by mistake.",
               "cancel {o} please"],
    "return": ["I want to return the {x} from order {o}.", "Please take back the {x} of {o}, refund me.",
               "return my {x}, order {o}"],
    "modify_address": ["Please ship my order {o} to 12 Elm Street instead.", "change the shipping address of {o}",
                       "I need my order {o} sent to a new address."],
}
ANSWERS = ["my email is {n}@example.com", "I'm {n} Smith, zip 10001", "yes", "Yes, please go ahead.", "ok, proceed"]
THINGS = ["lamp", "kettle", "jacket", "boots", "tent", "mug", "chair"]


def dialogue_rows(d: int, intent: str, text: str, answer: str, confirm: str) -> list[dict]:
    """The rows one dialogue gives: request, identity answer, then a confirmation after the statement."""
    m = [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]
    rows = [{"messages": list(m), "target": ASK_ID, "dialogue_id": d, "intent": intent}]
    m += [{"role": "assistant", "content": ASK_ID}, {"role": "user", "content": answer}]
    rows.append({"messages": list(m), "target": CALL, "dialogue_id": d, "intent": intent})
    m += [{"role": "assistant", "content": CALL}, {"role": "user", "content": "Tool result of get_order_details: {}"}]
    rows.append({"messages": list(m), "target": CONFIRM, "dialogue_id": d, "intent": intent})  # same human message
    m += [{"role": "assistant", "content": CONFIRM}, {"role": "user", "content": confirm}]
    rows.append({"messages": list(m), "target": DONE, "dialogue_id": d, "intent": intent})
    return rows


def write_data(folder, n_train=60, n_valid=30):
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, offset in (("train", n_train, 0), ("valid", n_valid, 1)):
        with (folder / f"{split}.jsonl").open("w") as fh:
            for d in range(n):
                intent = list(REQUESTS)[d % 3]
                text = REQUESTS[intent][(d // 3 + offset) % 3].format(o=f"#W{d:07d}", x=THINGS[d % len(THINGS)])
                answer = ANSWERS[(d + offset) % 2].format(n=THINGS[(d + 3) % len(THINGS)])
                for row in dialogue_rows(f"{split}-{d}", intent, text, answer, ANSWERS[2 + (d + offset) % 3]):
                    fh.write(json.dumps(row) + "\n")
    return folder


def test_labels_come_from_the_row_intent_except_answers_to_the_agents_questions():
    rows = dialogue_rows("d1", "cancel", "cancel #W0000002 please", "I'm Ann Lee, zip 10001", "yes")
    assert request_examples(rows) == [("cancel #W0000002 please", "cancel"), ("I'm Ann Lee, zip 10001", NONE),
                                      ("yes", NONE)]  # the tool result is no human message; each message once
    # A new request after a finished write is labelled with its own row's intent.
    later = rows[-1]["messages"] + [{"role": "assistant", "content": DONE},
                                    {"role": "user", "content": "Also return the mug of #W0000001."}]
    assert request_examples([{"messages": later, "dialogue_id": "d1", "intent": "return"}]) == [
        ("Also return the mug of #W0000001.", "return")]


def test_classifier_beats_chance_on_held_out_messages_and_reports_it(tmp_path):
    report = train_requests(write_data(tmp_path / "data"), tmp_path / "out", threshold=0.3)
    assert report["held_out"] and report["eval_messages"] == 90
    assert report["classes"] == ["cancel", "modify_address", NONE, "return"]
    assert report["accuracy"] > report["chance"] + 0.15 and report["accuracy"] >= 0.85
    assert report["request_covered"] >= 0.8 and report["none_read_as_request"] <= 0.1
    saved = json.loads((tmp_path / "out" / "requests_report.json").read_text())
    assert saved["accuracy"] == report["accuracy"] and len(saved["confusion"]) == 4
    assert (tmp_path / "out" / "recall.png").stat().st_size > 1000

    classifier = RequestClassifier.load(tmp_path / "out")
    found, probs = classifier.classify("please cancel order #W0000099, I no longer need it", 0.3)
    assert found[0] == "cancel" and abs(sum(probs.values()) - 1) < 1e-4
    assert classifier.classify("yes", 0.3)[0] == []  # a confirmation asks for nothing new
    # An opening that asks for nothing yet (the rows always open with a request; OPENINGS_WITHOUT_REQUEST
    # teach it, in other words than these).
    assert classifier.classify("Hello, I need some help with my order, please.", 0.3)[0] == []  # modify_address without them
    assert classifier.classify("please cancel order #W0000099", 1.0)[0] == []  # nothing reaches certainty


def test_missing_corrupt_or_wrong_files_are_clear_errors(tmp_path):
    with pytest.raises(AgentSpecError) as missing:
        RequestClassifier.load(tmp_path / "nope.json")
    assert missing.value.code == "requests_missing" and "agentspec train requests" in missing.value.hint
    (tmp_path / "bad.json").write_text('{"kind": "tfidf-logreg", "experts": ')
    with pytest.raises(AgentSpecError) as corrupt:
        RequestClassifier.load(tmp_path / "bad.json")
    assert corrupt.value.code == "requests_corrupt"
    router = Router.fit(["return it", "cancel it"], [0, 1], ["returns", "orders"], epochs=5)
    router.save(tmp_path / "router.json")
    with pytest.raises(AgentSpecError) as wrong:
        RequestClassifier.load(tmp_path / "router.json")
    assert "expert router" in wrong.value.message


def test_training_needs_requests_and_non_requests(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    rows = [{"messages": [{"role": "user", "content": f"cancel #W{i:07d}"}], "target": ASK_ID, "dialogue_id": i,
             "intent": "cancel"}
            for i in range(5)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(AgentSpecError) as err:
        train_requests(folder, tmp_path / "out")
    assert err.value.code == "requests_data"


def test_a_message_more_likely_asking_nothing_asks_nothing():
    from agentspec.train.requests import requests_above

    # The shipped classifier read an identity answer as none 0.54 and transfer 0.31.
    assert requests_above({"none": 0.54, "transfer": 0.31, "cancel": 0.15}, 0.3) == []
    assert requests_above({"none": 0.30, "exchange": 0.36, "modify_items": 0.34}, 0.3) == ["exchange", "modify_items"]
    assert requests_above({"none": 0.49, "cancel": 0.31, "return": 0.2}, 0.3) == ["cancel"]


def test_the_shipped_classifier_reads_identity_answers_as_no_request():
    from agentspec.spec import find_spec, load_spec
    from agentspec.train.requests import RequestClassifier

    spec = load_spec(find_spec("retail"))
    classifier = RequestClassifier.load(spec.resolve_path(spec.routing.requests.classifier))
    for text in ("The email on my account is emma.brown5032@example.com.", "Sure, the address is a.b@example.com.",
                 "It's Emma Brown, and the zip code is 12345.", "Yes, please go ahead."):
        assert classifier.classify(text, 0.3)[0] == [], text
    assert classifier.classify("I want to talk to a human agent about a complaint.", 0.3)[0] == ["transfer"]
