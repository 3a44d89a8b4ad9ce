"""What a turn tells the client while it runs: events from the graph's steps and the model's tokens.

Contract:
- ``step_events(node, update)`` turns one graph step's state update (``AgentSession.send(observe=)``)
  into events ``{"event": NAME, **data}``:
  ``tool_call`` (a call the guard let run: name, arguments), ``refused`` (a call the guard refused: name,
  reason), ``tool_result`` (name, outcome, observation), ``confirm`` (the graph stated a write and waits
  for the customer's yes: statement), ``reply`` (the turn's answer: text, outcome), ``handoff`` (the
  conversation went to a person: summary).
- ``ReplyTokens`` reads a model step's text as it is decoded and gives the characters of its reply
  string (``{"reply": "..."}``) as they arrive: the ``token`` events. A step that calls tools gives none.
  Tokens are a draft: the ``reply`` event is the answer (the graph may replace or retry the model's).

Nothing here knows a domain: names come from the spec's tools and the graph's trace.
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["ReplyTokens", "step_events"]

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def step_events(node: str, update: dict[str, Any], handoff_tool: str | None = None) -> list[dict[str, Any]]:
    """The events one graph step's update gives (none for steps the client need not see)."""
    events: list[dict[str, Any]] = []
    if node == "guard":
        for verdict in update.get("verdicts") or []:
            call = verdict["call"]
            if verdict["action"] == "run":
                events.append({"event": "tool_call", "name": call["name"], "arguments": call["arguments"]})
            else:
                events.append({"event": "refused", "name": call["name"], "reason": verdict.get("reason")})
    for entry in update.get("trace") or []:
        if entry.get("kind") == "tool":
            call = entry["calls"][0]
            events.append({"event": "tool_result", "name": call["name"], "outcome": entry.get("outcome"),
                           "observation": entry.get("output")})
            if handoff_tool and call["name"] == handoff_tool and entry.get("outcome") == "ok":
                events.append({"event": "handoff", "summary": str(call["arguments"].get("summary", ""))})
    if node in ("confirm", "respond") and update.get("reply") is not None:
        outcome = next((e.get("outcome") for e in update.get("trace") or [] if "outcome" in e), "reply")
        if node == "confirm":
            events.append({"event": "confirm", "statement": update["reply"]})
        events.append({"event": "reply", "text": update["reply"], "outcome": outcome})
    return events


class ReplyTokens:
    """Incremental reader of one decoded step: ``feed(delta)`` returns the reply characters it completes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new attempt of the step starts."""
        self._text = ""
        self._start: int | None = None  # index of the reply string's first character, once known
        self._pos = 0  # next character of the string to read
        self._done = False

    def feed(self, delta: str) -> str:
        self._text += delta
        if self._done:
            return ""
        if self._start is None:
            self._start = _reply_start(self._text)
            if self._start is None:
                return ""
            if self._start < 0:  # not a reply
                self._done = True
                return ""
            self._pos = self._start
        return self._read()

    def _read(self) -> str:
        out: list[str] = []
        text, i = self._text, self._pos
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self._done = True
                i += 1
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(text):
                break  # the escape is not complete yet
            kind = text[i + 1]
            if kind == "u":
                code, size = _unicode_escape(text, i)
                if size == 0:
                    break  # not complete yet
                if code is None:
                    self._done = True
                    break
                out.append(code)
                i += size
            else:
                out.append(_ESCAPES.get(kind, kind))
                i += 2
        self._pos = i
        return "".join(out)


def _unicode_escape(text: str, i: int) -> tuple[str | None, int]:
    """The character of the ``\\uXXXX`` escape at ``i`` (a surrogate pair: both escapes) and the
    characters it takes; ``(None, 0)`` while incomplete, ``(None, 6)`` when malformed."""
    if i + 6 > len(text):
        return None, 0
    try:
        code = int(text[i + 2:i + 6], 16)
    except ValueError:
        return None, 6
    if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half follows as a second escape
        if i + 12 > len(text):
            return None, 0
        if text[i + 6:i + 8] == "\\u":
            try:
                low = int(text[i + 8:i + 12], 16)
            except ValueError:
                low = -1
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(code), 6


def _reply_start(text: str) -> int | None:
    """Where the reply string's content starts; -1 when the step is not a reply; None while unknown."""
    head = text.lstrip()
    offset = len(text) - len(head)
    prefix = '{"reply"'
    compact = head.replace(" ", "")
    if not compact.startswith(prefix[:len(compact)]):
        return -1
    if len(compact) < len(prefix):
        return None
    # Past '{"reply"': optional spaces, ':', optional spaces, '"'.
    i = head.find('"reply"')
    if i < 0:
        return -1
    i += len('"reply"')
    while i < len(head) and head[i] in " \t\n":
        i += 1
    if i >= len(head):
        return None
    if head[i] != ":":
        return -1
    i += 1
    while i < len(head) and head[i] in " \t\n":
        i += 1
    if i >= len(head):
        return None
    return offset + i + 1 if head[i] == '"' else -1


def sse(event: dict[str, Any]) -> str:
    """One server-sent event: ``event: NAME`` and its data as JSON."""
    data = {k: v for k, v in event.items() if k != "event"}
    return f"event: {event['event']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


__all__ += ["sse"]
