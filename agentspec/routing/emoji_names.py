"""Emoji spelled as their names, for an encoder whose vocabulary has no piece for them.

Contract: ``spell_emoji(text)`` is ``text`` with every emoji the ``emoji`` package knows replaced by its
CLDR short name between spaces ("ok 👍" -> "ok  thumbs up "), skin-tone modifiers left out of the name;
emoji the package does not know stay as they are, and a text without emoji comes back unchanged.
"""
from __future__ import annotations

import emoji

__all__ = ["spell_emoji"]

_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


def _name(found: str) -> str:
    """The emoji's short name in words ("thumbs up"), its skin tone left out."""
    plain = "".join(c for c in found if c not in _SKIN_TONES)
    data = emoji.EMOJI_DATA.get(plain) or emoji.EMOJI_DATA[found]
    return data["en"].strip(":").replace("_", " ")


def spell_emoji(text: str) -> str:
    """``text`` with its emoji spelled as names (see the module docstring)."""
    matches = emoji.emoji_list(text)
    if not matches:
        return text
    parts: list[str] = []
    at = 0
    for match in matches:
        parts += [text[at:match["match_start"]], f" {_name(match['emoji'])} "]
        at = match["match_end"]
    parts.append(text[at:])
    return "".join(parts)
