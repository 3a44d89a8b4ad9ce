"""Requests worded and shaped unlike the training data, for ``eval generate --style hard``.

The standard suite and ``train data`` share ``_builders``: the suite's held-out *users* are new to a
trained agent, its *wording* is not. A hard task keeps the standard task's category, user and kind of
gold, and changes what the customer says:

- items are named the way customers name them: the product, plus only the options that tell it apart
  from the order's other items of that product ("the Pet Bed", "the large, brown Pet Bed");
- the new variant is named by what changes ("the same thing in grey", "one with size L instead");
- an exchange or a modification swaps two items of one order in one request when the order has two
  swappable items (half the time);
- a return takes one to three items;
- every request sentence comes from lists used nowhere else (not ``_builders``, not
  ``train/_mutate``), and half the tasks open with no request at all ("I need help with an order"):
  the customer says what they want once the agent asks (``ScriptedUser`` states an unstated request
  before answering anything else).

``--style fresh`` is the same shapes with a second, disjoint set of sentences (``FRESH``), written
after the agent's graph was tuned on the hard style's train split and never used to develop it: the
hard style's sentences shaped the graph's readers (its test split shares them), the fresh style's
did not, so it measures how far those readers carry to wording nobody looked at.

The builders that say requests in these sentences are ``_worded``'s (shared with the wording families).
Not here: identity, splits, execution, the user simulator.
"""
from __future__ import annotations

from ._worded import (Wording, describe_change, family_wording, intent_builders, pick, vague_opening,  # noqa: F401
                      worded_forbidden, worded_transfer)

__all__ = ["FRESH", "HARD", "VAGUE_OPENINGS", "WORDINGS", "Wording", "describe_change", "family_wording",
           "intent_builders", "pick", "vague_opening", "worded_forbidden", "worded_transfer"]


HARD = Wording(
    not_needed=("I don't need it anymore", "it's not needed now"),
    by_mistake=("I bought it by accident", "I placed it by mistake"),
    cancel=("Could you cancel {o}? {Why}.", "{O} has to be cancelled, {why}."),
    address=("I moved. Can {o} be delivered to {where}?", "The address on {o} is wrong; it should go to {where}."),
    where="{address1}{line2}, {city} {state} {zip}, {country}",
    payment=("Can {o} be charged to my {method} rather than what I used?", "For {o} I'd rather pay with my {method}."),
    modify=("Before {o} ships, could you swap {parts}? Use {pay} for any difference.",
            "I'd like to change what's in {o}: {parts}. Any difference goes on {pay}."),
    exchange=("I got {o} but I want to exchange {parts}. Settle the difference with {pay}.",
              "From {o}, can I trade {parts}? {Pay} for the difference."),
    returns=("I'm sending back {things} from {o}. Refund it to my {pay} - what will that come to?",
             "{Things} from {o} didn't work out; I'd like a refund to my {pay}. How much is it?"),
    order_with=("the order I placed with the {items}", "the order that had the {items} in it"),
    order_id=("order {id}", "my order {id}"),
    swap="{item} for one {change}", change_bare="in ", change_keyed="with ",
    forbidden_cancel="Where is order {id} at the moment? If it's not too late I want to cancel it, I changed my mind.",
    forbidden_address="Could order {id} be sent to {address1}, {city} instead?",
    forbidden_return="Order {id} - I'd like to send it back for a refund.",
    forbidden_foreign="My neighbour asked me to cancel her order {id} for her, can you do that?",
    transfers=(
        "My last parcel never arrived even though it shows as delivered, and I want someone to look into compensation.",
        "Please delete my whole account; I want a person to do that.",
        "Someone placed orders on my account without my permission and I need a real person to look at it."),
    vague=("Hi, I need some help with an order.", "Hello, I have a question about my orders.",
           "Hi there, can you help me with something on my account?"),
)

# Written once, after the graph was tuned on HARD's train split; never run while developing it.
FRESH = Wording(
    not_needed=("turns out I won't use it", "we already got one as a gift"),
    by_mistake=("that purchase was a slip of the finger", "I never meant to buy it"),
    cancel=("Please scrap {o} - {why}.", "I need {o} called off. {Why}."),
    address=("New address for {o}, please: {where}.", "Ship {o} to {where} instead of the old address."),
    where="{address1}{line2}, {city}, {state} {zip}",
    payment=("Switch the payment on {o} to my {method}, please.", "I want {o} paid by my {method} instead."),
    modify=("{O} hasn't shipped yet, right? Then I'd like {parts}. Put the difference on {pay}.",
            "Can you still change {o}? I want {parts}, with {pay} covering any difference."),
    exchange=("{O} arrived, but I need {parts}. Use {pay} for any price difference.",
              "About {o}: please exchange {parts}; {pay} for the difference."),
    returns=("I'm hoping to return {things} from {o} and get the money back on my {pay}. How much will I get?",
             "Please take back {things} from {o}, refund to my {pay}. What's the total?"),
    order_with=("the order with my {items}", "the one where I bought the {items}"),
    order_id=("order {id}", "{id}"),
    swap="{item} for the same thing {change}", change_bare="but in ", change_keyed="only with ",
    forbidden_cancel="Has order {id} gone out yet? If not, please cancel it, I don't want it now.",
    forbidden_address="Please redirect order {id} to {address1}, {city}.",
    forbidden_return="I'd like my money back for order {id}, I'm returning all of it.",
    forbidden_foreign="Would you cancel order {id} for me? It's my sister's, she's fine with it.",
    transfers=(
        "I was charged twice for one order and I want a person to refund the duplicate charge.",
        "Put me through to a supervisor, I want to complain about how I was treated on the phone yesterday.",
        "My package came damaged and I need someone to arrange compensation."),
    vague=("Hey, got a minute? Something's off with a purchase.", "Good morning! I could use a hand.",
           "Hi, it's about my account."),
)

WORDINGS = {"hard": HARD, "fresh": FRESH}
VAGUE_OPENINGS = HARD.vague + FRESH.vague  # what the scripted user recognises as asking for nothing yet
