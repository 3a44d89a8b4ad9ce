"""Which words of the user's text are the first and the last name: the ``name`` kind of the ``mentions`` hook.

The grammar lets a name argument take any word the user typed (``agentspec.decoding.grounding``), so
the model cannot misspell a name; but it can put the wrong word in a field: for "My name is Harper
Khan and my zip code is 19029" the expert looked up first name "Harper", last name "Harper", and
repeated that failed lookup for ten turns. Here the last name the texts dictate is read as two
words, in a message that also gives a zip code (the lookup needs both, and "I'm writing about an
order" is no name): after a cue ("my name is", "I'm", "this is", "name's", "call me") or, without
one, the two words just before the words "zip code" ("Sure: Harper Khan, and my zip is 19029"), or
a message of a name and a zip alone ("harper khan 19029").
``first_name`` keeps the first word, ``last_name`` the second, in any casing the grammar offers. No
name found names nothing: the choice stays open, never stranded.
"""
from __future__ import annotations

import re

__all__ = ["named_person", "person_names"]

_WORD = r"[^\W\d_][\w'-]*"
_CUE = re.compile(rf"\b(?:my name is|my name's|name's|name is|i'm|i am|this is|it's|it is|call me)\s+"
                  rf"(?P<first>{_WORD})\s+(?P<last>{_WORD})", re.I)
# Not "... San Antonio TX 78268": an address ends with a zip too, so without a cue the zip must be
# called one, or the message be the name and the zip alone.
_BEFORE_ZIP = re.compile(rf"(?P<first>{_WORD})\s+(?P<last>{_WORD})\s*[,;]?\s*(?:and\s+)?(?:my\s+)?(?:zip|postal)",
                         re.I)
_BARE = re.compile(rf"^\W*(?P<first>{_WORD})\s+(?P<last>{_WORD})\s*[,;]?\s*\d{{5}}\W*$", re.I)
# Words that open or glue a sentence, never a name: "and my zip", "is zip" are not a person.
_NOT_NAMES = {"and", "my", "is", "the", "zip", "code", "name", "sure", "yes", "it", "its", "it's", "i'm", "am",
              "here", "with", "postal", "me", "call", "this", "of", "for", "to", "at", "in", "on", "please"}


def person_names(texts: list[str]) -> tuple[str, str] | None:
    """(first, last) of the last name the ``texts`` (messages) dictate, as typed; None when none does."""
    for text in reversed(texts):
        if not re.search(r"(?<!\d)\d{5}(?!\d)", text):
            continue
        found: list[tuple[int, str, str]] = []
        for pattern in (_CUE, _BEFORE_ZIP, _BARE):
            for match in pattern.finditer(text):
                first, last = match.group("first"), match.group("last")
                if first.lower() not in _NOT_NAMES and last.lower() not in _NOT_NAMES:
                    found.append((match.start("first"), first, last))
        if found:
            _, first, last = max(found)
            return first, last
    return None


def named_person(texts: list[str], candidates: list[str], argument: str | None) -> list[str]:
    """The ``candidates`` (name words) equal to the part of the dictated name that ``argument`` names."""
    names = person_names(texts)
    if names is None or argument not in ("first_name", "last_name"):
        return []
    want = names[0 if argument == "first_name" else 1].lower()
    return [c for c in candidates if c.lower() == want]
