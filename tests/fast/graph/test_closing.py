"""A closing ("thanks, that's all", "bye") is answered by the spec's ``messages.closing``, not by a model step.

The reader's answer head reads such a message as neutral; it asks for nothing and gives nothing. With
no step of the graph's own, a small model handed it guesses a request and acts on it (the 135M expert
proposed an address change to "Thanks, that's all."). Scripted model; ``read_as`` gives the readings.
"""
from __future__ import annotations

from agentspec.graph import AgentSession

from conftest import call, changed, read_as, reply

AUTH = call("find_user_id_by_email", email="alice@example.com")
THANKS = "Thanks, that's all."
NEUTRAL = {"yes": 0.002, "no": 0.003, "neutral": 0.99, "other": 0.005}


def closing_reader(text: str = THANKS, **fields):
    return read_as(text, requests={}, answer=NEUTRAL, **fields)


def test_a_verified_customers_thanks_is_answered_by_the_spec_and_never_by_the_model(spec, scripted, shop_db):
    scripted.enqueue(AUTH, call("modify_user_address", user_id="alice_smith_1001", address1="x", address2="",
                                city="y", state="IL", country="USA", zip="10001"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=closing_reader()) as s:
        s.send("hello, alice@example.com")
        turn = s.send(THANKS)
        assert turn.reply == spec.messages.closing
        assert turn.tool_calls == [] and s.state["pending"] is None
        assert [e["outcome"] for e in turn.entries if e["kind"] == "graph"] == ["closing"]
        assert len(scripted.calls) == 1  # the identity lookup only: the address guess was never drawn


def test_without_a_closing_message_the_model_replies(spec, scripted, shop_db):
    spec = changed(spec, messages={"closing": None}, policy={"ask_for_request": False})
    scripted.enqueue(AUTH, reply("How can I help?"), reply("Goodbye!"))
    with AgentSession(spec, model=scripted, data=shop_db, reader=closing_reader()) as s:
        s.send("hello, alice@example.com")
        assert s.send(THANKS).reply == "Goodbye!"


def test_a_neutral_message_that_gives_a_value_or_asks_for_something_is_no_closing(spec, scripted, shop_db):
    text = "thanks, it's the one from Springfield"
    scripted.enqueue(AUTH, reply("Which order do you mean?"))
    with AgentSession(spec, model=scripted, data=shop_db,
                      reader=closing_reader(text, slots={"city": ["Springfield"]})) as s:
        s.send("hello, alice@example.com")
        assert s.send(text).reply == "Which order do you mean?"


def test_before_verification_a_thanks_is_asked_for_the_identity(spec, scripted, shop_db):
    scripted.enqueue(reply("You're welcome."))
    with AgentSession(spec, model=scripted, data=shop_db, reader=closing_reader()) as s:
        assert s.send(THANKS).reply == spec.messages.identity_request


def test_a_closing_keeps_an_open_request_for_the_customer_to_finish(spec, scripted, shop_db):
    # A cancel named without its reason: the graph asks for it (once) and the request stays open through
    # "thanks": the closing is said, and the reason given next completes the statement.
    cancel, why = "please cancel #W0000002", "oh and I ordered it by mistake"
    reader = closing_reader()
    reader.readings.update(read_as(cancel, requests={"cancel": 0.95}).readings)
    reader.readings.update(read_as(why, requests={}, choices={"reason": {"ordered by mistake": 0.95, "none": 0.05}})
                           .readings)
    scripted.enqueue(AUTH)
    with AgentSession(spec, model=scripted, data=shop_db, reader=reader) as s:
        s.send("hello, alice@example.com")
        assert s.send(cancel).reply == ("Why would you like to cancel order #W0000002: is it no longer needed, "
                                        "or was it ordered by mistake?")
        assert s.state["open_requests"] == ["cancel"]
        assert s.send(THANKS).reply == spec.messages.closing
        assert s.state["open_requests"] == ["cancel"]
        stated = s.send(why).reply
        assert stated.startswith("I'm about to cancel order #W0000002 (reason: ordered by mistake)"), stated
