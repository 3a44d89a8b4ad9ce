"""Cutting a markdown document into passages of about 80-200 words, each tagged with its source.

Contract:
- ``chunk(document, max_words=200, min_words=80) -> list[Chunk]``, in document order. A passage never
  crosses a heading (``#`` .. ``######``): its ``source`` is ``"<document source>#<deepest heading>"``
  (text before any heading: the document source alone), so a citation points at a section.
- A passage's ``text`` starts with the heading path (``"Policy > Modify pending order > Modify payment"``)
  on its own line, then the section's text: every part of a long section keeps what it is about.
- A section is packed paragraph by paragraph (blank-line separated) up to ``max_words``; a paragraph
  longer than that is cut at lines, then at sentences, then at words. A last part shorter than
  ``min_words`` joins the part before it. Sections shorter than ``min_words`` stay as they are.
- Headings with no text of their own (a title right above its first subsection) make no passage.
- Deterministic: the same text and limits give the same chunks (``CHUNKER_VERSION`` names the rules,
  so an index re-chunks when they change).

Not here: embedding, storage (``documents``); any domain's documents (toolkits build those).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk", "CHUNKER_VERSION"]

CHUNKER_VERSION = "md-sections-1"
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    """One passage of a document: ``position`` counts the document's passages from 0."""

    source: str
    text: str
    position: int


def _words(text: str) -> int:
    return len(text.split())


def _sections(text: str) -> list[tuple[tuple[str, ...], str]]:
    """(heading path, body) per section, in order; headings inside code fences are text."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            sections.append((tuple(t for _, t in path), []))
        else:
            sections[-1][1].append(line)
    return [(titles, "\n".join(lines).strip()) for titles, lines in sections if "\n".join(lines).strip()]


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """A paragraph of more than ``max_words`` words, cut at lines, then sentences, then words."""
    for pieces in (paragraph.splitlines(), _SENTENCE_END.split(paragraph)):
        pieces = [p for p in (p.strip() for p in pieces) if p]
        if len(pieces) > 1:
            out: list[str] = []
            for piece in pieces:
                out.extend(_split_long(piece, max_words) if _words(piece) > max_words else [piece])
            return _pack(out, max_words, joiner="\n")
    words = paragraph.split()
    return [" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words)]


def _pack(pieces: list[str], max_words: int, joiner: str) -> list[str]:
    """Greedy: consecutive pieces joined while the total stays within ``max_words``."""
    out: list[str] = []
    current: list[str] = []
    count = 0
    for piece in pieces:
        n = _words(piece)
        if current and count + n > max_words:
            out.append(joiner.join(current))
            current, count = [], 0
        current.append(piece)
        count += n
    if current:
        out.append(joiner.join(current))
    return out


def _parts(body: str, max_words: int, min_words: int) -> list[str]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    pieces: list[str] = []
    for paragraph in paragraphs:
        pieces.extend(_split_long(paragraph, max_words) if _words(paragraph) > max_words else [paragraph])
    parts = _pack(pieces, max_words, joiner="\n\n")
    if len(parts) > 1 and _words(parts[-1]) < min_words:
        last = parts.pop()
        parts[-1] = f"{parts[-1]}\n\n{last}"
    return parts


def chunk(document: object, max_words: int = 200, min_words: int = 80) -> list[Chunk]:
    """The passages of ``document`` (anything with ``source`` and ``text``); see the module docstring."""
    if max_words < 1 or not 0 <= min_words <= max_words:
        raise ValueError(f"need 1 <= max_words and 0 <= min_words <= max_words, got {max_words}, {min_words}")
    source, text = document.source, document.text  # type: ignore[attr-defined]
    chunks: list[Chunk] = []
    for titles, body in _sections(text):
        anchor = f"{source}#{titles[-1]}" if titles else source
        header = " > ".join(titles)
        for part in _parts(body, max_words, min_words):
            chunks.append(Chunk(anchor, f"{header}\n{part}" if header else part, len(chunks)))
    return chunks
