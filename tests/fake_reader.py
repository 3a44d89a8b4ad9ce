"""A reader for the fast tier: keyword rules in place of the trained encoder (a test double).

The fast tier never loads the real MiniLM encoder (``tests/conftest.py``); sessions built there read
messages with ``KeywordReader``, which implements the real ``Reader`` protocol with the retail
reader's labels. ``readings`` overrides it for exact texts, so a test can say precisely what the
reader found (a slot, an unsure answer) without depending on keyword luck.
"""
from __future__ import annotations

import re
from typing import Any

from agentspec.routing.reader import Reading

REQUEST_WORDS = {
    "cancel": ("cancel",),
    "return": ("return", "refund", "send back", "sending back"),
    "exchange": ("exchange", "swap"),
    "modify_items": ("modify the items", "change the item", "change it to", "different color", "instead of the"),
    "modify_address": ("address", "ship it to", "deliver"),
    "account_address": ("default address", "address on file", "account address", "address on my account"),
    "modify_payment": ("pay with", "payment", "charge"),
    "transfer": ("human", "person", "manager", "agent", "representative", "supervisor"),
    "status": ("status", "where is", "tracking"),
}
_YES = re.compile(r"^\s*(yes|yeah|yep|sure|ok|okay|correct|confirm|confirmed|please do|go ahead|please go ahead|"
                  r"of course|absolutely|y)\b([ .!,]*(please|go ahead|go on|proceed|do it|do that|do|"
                  r"that's right|that's correct))*[ .!,]*$", re.I)
_NO = re.compile(r"^\s*(no|nope|nah|don't|do not|stop)\b", re.I)
_NAME = re.compile(r"(?:name is|i'm|i am|it's|this is)\s+([A-Z][a-z]+)\s+([A-Z][a-z]+)")
_BARE_NAME = re.compile(r"^([A-Z][a-z]+)\s+([A-Z][a-z]+)[ ,]+(?:zip(?: code)?[ :]*)?\d{5}")
_ZIP = re.compile(r"\b\d{5}\b")
_ADDRESS = re.compile(r"(?P<address1>\d+ [A-Za-z ]+?(?:St|Street|Ave|Avenue|Rd|Road|Lane|Ln|Dr|Drive|Way|Blvd))"
                      r"(?:,? (?P<address2>(?:Suite|Apt|Unit) \w+))?, (?:[a-z ]+ )?(?P<city>[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*),? "
                      r"(?P<state>[A-Z]{2}) "
                      r"(?P<zip>\d{5})(?:, (?P<country>USA))?")
_ORDER_ADDRESS = ("ship it to", "deliver", "shipping address", "order #", "the order")
_REASONS = {"no longer needed": ("no longer need", "don't need", "not needed"),
            "ordered by mistake": ("mistake", "by accident")}
_LASTING = ("from now on", "going forward", "in future", "always")  # a lasting preference (choice "remember")


class HashingEncoder:
    """A sentence encoder double for the fast tier: L2-normalised hashed bags of lowercase words (384 wide).
    Texts sharing words are near; it knows no synonyms (the real-tier tests use MiniLM)."""

    dims = 384

    def embed(self, texts: list[str]):
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dims] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


class KeywordReader:
    """Keyword rules with the retail reader's labels (module docstring); ``encoder`` embeds sentences for
    long-term memory and retrieval without the real MiniLM."""

    request_classes = tuple(REQUEST_WORDS)
    tags = ("address1", "address2", "city", "country", "first_name", "last_name", "state", "zip")
    choice_heads = {"reason": ("no longer needed", "ordered by mistake", "none"), "remember": ("none", "payment_method")}

    def __init__(self, readings: dict[str, Reading] | None = None):
        self.encoder = HashingEncoder()
        self.readings = dict(readings or {})
        self.read_texts: list[str] = []

    def read(self, text: str) -> Reading:
        self.read_texts.append(text)
        if text in self.readings:
            return self.readings[text]
        low = text.lower()
        requests = {c: (0.9 if any(w in low for w in words) else 0.01) for c, words in REQUEST_WORDS.items()}
        if requests["account_address"] > 0.5 and not any(w in low for w in _ORDER_ADDRESS):
            requests["modify_address"] = 0.01  # "my default address": the account's alone
        yes = bool(_YES.match(text))
        no = not yes and bool(_NO.match(text))
        answer = {"yes": 0.99 if yes else 0.005, "no": 0.9 if no else 0.005}
        answer["other"] = 1.0 - answer["yes"] - answer["no"]
        if yes or no:
            requests = {c: 0.01 for c in requests}
        slots: dict[str, list[str]] = {}
        if found := (_NAME.search(text) or _BARE_NAME.search(text)):
            slots.update(first_name=[found.group(1)], last_name=[found.group(2)])
            if zips := _ZIP.findall(text):
                slots["zip"] = [zips[0]]
        if found := _ADDRESS.search(text):
            slots.update({k: [v] for k, v in found.groupdict().items() if v})
        reason = next((r for r, words in _REASONS.items() if any(w in low for w in words)), "none")
        choices = {"reason": {r: (0.95 if r == reason else 0.025) for r in self.choice_heads["reason"]}}
        lasting = any(w in low for w in _LASTING)
        choices["remember"] = {"payment_method": 0.97 if lasting else 0.01, "none": 0.03 if lasting else 0.99}
        return Reading(requests, answer, slots, choices)


def reading(**fields: Any) -> Reading:
    """A ``Reading`` from keyword arguments: ``reading(requests={"cancel": 0.9}, answer={"yes": 0.95})``."""
    return Reading(**fields)
