"""Text as segments (literal text, tagged value) that keep character spans exact through formatting and noise.

``fill(template, field, **values)`` is ``str.format`` where a value may itself be a rendered ``Text``
(its segments and the family fields it was made from carry over); ``tagged(value, tag)`` is a value
whose place in the final text becomes a span. ``roughen(segments, rng)`` roughens the literal parts
(typos, punctuation, case, spacing) and only ever lowercases tagged values; ``flatten`` joins the
segments into the text and its ``[start, end, tag]`` spans; ``lowered`` lowercases a whole ``Text``.
A tag starting with "_" (an email, an order id) shields its text from noise but makes no span.

Private to ``reader_data``; knows nothing of families, stores or labels.
"""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from agentspec.errors import AgentSpecError

__all__ = ["Segment", "TemplateError", "Text", "decap", "fill", "flatten", "join_texts", "lowered", "roughen", "tagged",
           "trim_end"]


class TemplateError(AgentSpecError):
    code = "template"


Segment = tuple[str, "str | None"]  # (text, tag); a tag starting with "_" shields it from noise but is no span


@dataclass(frozen=True)
class Text:
    """Rendered text as segments, with the family fields used to make it (outermost first)."""

    segments: tuple[Segment, ...]
    acts: tuple[str, ...] = ()

    @property
    def plain(self) -> str:
        return "".join(s for s, _ in self.segments)


def tagged(value: str, tag: str) -> Text:
    return Text(((value, tag),))


_FORMATTER = string.Formatter()


def fill(template: str, field: str | None = None, **values: str | Text) -> Text:
    """``template.format(**values)`` where a value may be a ``Text`` whose segments and acts carry over.

    ``field`` is the family field the template comes from (recorded in ``acts``); None for glue written
    here. A doubled brace is a literal brace, as in ``str.format``.
    """
    segments: list[Segment] = []
    acts = [field] if field else []
    for literal, name, spec, conversion in _FORMATTER.parse(template):
        if literal:
            segments.append((literal, None))
        if name is None:
            continue
        if spec or conversion or name not in values:
            used = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise TemplateError(f"template {template!r} ({field or 'glue'}) uses {{{used}}}, which is not filled here",
                                hint=f"use only these placeholders, without format specs: {', '.join(sorted(values))}")
        value = values[name]
        if isinstance(value, Text):
            segments.extend(value.segments)
            acts.extend(value.acts)
        else:
            segments.append((value, None))
    merged: list[Segment] = []
    for text, tag in segments:  # adjacent literals become one, so noise sees whole words
        if merged and tag is None and merged[-1][1] is None:
            merged[-1] = (merged[-1][0] + text, None)
        elif text:
            merged.append((text, tag))
    return Text(tuple(merged), tuple(acts))


def join_texts(texts: list[Text]) -> Text:
    """"a", "a and b", "a, b and c" over Texts (``evals._describe._join``'s shape)."""
    names = [f"t{k}" for k in range(len(texts))]
    template = _and(["{" + name + "}" for name in names])
    return fill(template, **dict(zip(names, texts)))


def decap(text: Text) -> Text:
    """The first word lowercased when it is an ordinary capitalised word ("Could" -> "could"; not "I'd")."""
    (first, tag), rest = text.segments[0], text.segments[1:]
    word = re.match(r"[A-Za-z']*", first).group(0)
    if tag is not None or len(word) < 2 or not (word[0].isupper() and word[1:].islower()):
        return text
    return Text(((first[0].lower() + first[1:], None),) + rest, text.acts)


def lowered(text: Text) -> Text:
    """Every segment lowercased, tagged values too (their tags and the acts kept)."""
    return Text(tuple((part.lower(), tag) for part, tag in text.segments), text.acts)


def trim_end(text: Text) -> Text:
    """Trailing sentence punctuation and spaces dropped (before a joiner like " and then ")."""
    *head, (last, tag) = text.segments
    if tag is not None:
        return text
    kept = last.rstrip(" .!?")
    return Text(tuple(head) + (((kept, None),) if kept else ()), text.acts)


_PUNCT = re.compile(r"(?<!\w)[.,!?;]|[.,!?;](?!\w)")  # kept only between two word characters ("1.5")
_WORD = re.compile(r"\b[A-Za-z]{5,}\b")


def roughen(segments: tuple[Segment, ...], rng: random.Random) -> tuple[list[list], list[str]]:
    """Segments after noise (tagged values only ever lowercased) and the kinds that changed something.

    Each drawn independently: lowercase all (25%) or, else, drop the first capital (15%); drop ``.,!?;``
    that is not between two word characters (15%); one or two swaps of adjacent inner letters in words of
    five letters or more (35%); a doubled space, a leading or a trailing space (10%).
    """
    segs = [[text, tag] for text, tag in segments]
    free = [s for s in segs if s[1] is None]
    kinds = []
    if rng.random() < 0.25:
        for s in segs:
            s[0] = s[0].lower()
        kinds.append("lowercase")
    elif rng.random() < 0.15 and segs[0][1] is None and segs[0][0][:1].isupper():
        segs[0][0] = segs[0][0][0].lower() + segs[0][0][1:]
        kinds.append("no_capital")
    if rng.random() < 0.15 and any(_PUNCT.search(s[0]) for s in free):
        for s in free:
            s[0] = _PUNCT.sub("", s[0])
        kinds.append("no_punctuation")
    if rng.random() < 0.35:
        words = [(s, m) for s in free for m in _WORD.finditer(s[0])]
        typos = 0
        for s, m in rng.sample(words, k=min(len(words), rng.choice((1, 2)))):
            word = s[0][m.start():m.end()]
            inner = [j for j in range(1, len(word) - 2) if word[j] != word[j + 1]]
            if inner:  # a swap keeps lengths, so the other matches' offsets stay right
                j = rng.choice(inner)
                word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
                s[0] = s[0][:m.start()] + word + s[0][m.end():]
                typos += 1
        if typos:
            kinds.append("typo")
    if rng.random() < 0.10:
        spaced = [s for s in free if " " in s[0]]
        where = rng.choice(("inside", "leading", "trailing")) if spaced else rng.choice(("leading", "trailing"))
        if where == "inside":
            s = rng.choice(spaced)
            k = rng.choice([k for k, c in enumerate(s[0]) if c == " "])
            s[0] = s[0][:k] + "  " + s[0][k + 1:]
        elif where == "leading":
            segs.insert(0, [" ", None])
        else:
            segs.append([rng.choice((" ", "  ")), None])
        kinds.append("whitespace")
    return segs, kinds


def flatten(segments) -> tuple[str, list[list]]:
    """The text and the ``[start, end, tag]`` of every tagged segment whose tag does not start with "_"."""
    text, spans, at = "", [], 0
    for part, tag in segments:
        if tag is not None and not tag.startswith("_"):
            spans.append([at, at + len(part), tag])
        text += part
        at += len(part)
    return text, spans


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
