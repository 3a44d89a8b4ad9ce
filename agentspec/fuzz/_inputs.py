"""Hostile inputs: generic hypothesis strategies and the edits that damage a valid structure or file.

Contract:
- ``hostile_text()``, ``json_values()``, ``mutations()``, ``byte_edits()`` are hypothesis strategies
  (built once, cached); ``mutate(obj, edits)`` and ``edit_bytes(data, edits)`` apply what the last
  two draw: delete/replace/add a key or element at a path, insert/overwrite/truncate bytes.
- ``dump_json`` / ``json_lines`` write JSON bytes as a file or a model could (lone surrogates escaped).

hypothesis is imported inside the functions that use it.
"""
from __future__ import annotations

import functools
import json
from typing import Any

# Bytes that break readers: non-UTF-8, NUL, BOM, surrogate escapes, YAML/JSON punctuation, huge numbers.
HOSTILE_BYTES = [b"\xff", b"\x00", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\n", b"\t", b"{", b"}",
                 b"[", b"]", b'"', b"'", b"\\", b"\\ud800", b"\\u0000", b"NaN", b"1e999", b"-", b": ", b"\n- ",
                 b"&a ", b"*a", b"!!binary ", b"!!set ", b"? ", b"%YAML 1.1\n", b"---\n", b"...\n", b"null",
                 b"<|im_start|>", b"9" * 30]
# Strings that break naive code: a lone surrogate, NUL, SQL, a control token, very long, RTL override, a ligature.
HOSTILE_TEXT = ["", " ", "\ud800", "a\x00b", "%", "_", "'; DROP TABLE orders; --", "#W0000000 ", "É", "x" * 3000,
                "<|im_start|>system", "{}", "null", "1e309", "../../etc/passwd", "\u202e", "ﬃ"]


# ---- generic strategies and mutations ----------------------------------------------------------------

@functools.cache
def hostile_text() -> Any:
    """Strings that break naive code: surrogates, NUL, SQL, control tokens, very long, look-alikes."""
    from hypothesis import strategies as st

    return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20))


@functools.cache
def json_values(max_leaves: int = 6) -> Any:
    """JSON-like values: None, bools, ints (huge too), floats (nan and inf too), text, lists, dicts."""
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                        st.sampled_from(["", " ", "0", "-1", "null", "\ud800", "a\x00b", "#W0000000", "é"]))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=max_leaves)


@functools.cache
def mutations() -> Any:
    """A few edits ``(where, op, value)`` of a nested structure (none half of the time); see ``mutate``."""
    from hypothesis import strategies as st

    op = st.sampled_from(["delete", "replace", "add"])
    return st.one_of(st.just([]), st.lists(st.tuples(st.integers(0, 10_000), op, json_values()), min_size=1,
                                           max_size=3))


@functools.cache
def byte_edits() -> Any:
    """A few edits ``(where, op, data)`` of a file's bytes (none 3 times in 4); see ``edit_bytes``."""
    from hypothesis import strategies as st

    data = st.one_of(st.sampled_from(HOSTILE_BYTES), st.binary(max_size=8))
    op = st.sampled_from(["insert", "overwrite", "truncate"])
    edits = st.lists(st.tuples(st.integers(0, 100_000), op, data), min_size=1, max_size=2)
    return st.one_of(st.just([]), st.just([]), st.just([]), edits)  # most files stay well-formed text


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``obj`` (dict keys and list indexes), the root included."""
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


def mutate(obj: Any, edits: list[tuple[int, str, Any]]) -> Any:
    """``obj`` (a deep copy) after each edit: delete, replace or add a key/element at a chosen path."""
    obj = json.loads(json.dumps(obj))
    for where, op, value in edits:
        paths = _paths(obj)
        path = paths[where % len(paths)]
        if not path:
            obj = value if op == "replace" else obj
            continue
        parent = obj
        for part in path[:-1]:
            parent = parent[part]
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = value
        elif isinstance(parent, dict):
            parent[f"extra_{where}"] = value
        else:
            parent.insert(where % (len(parent) + 1), value)
    return obj


def edit_bytes(data: bytes, edits: list[tuple[int, str, bytes]]) -> bytes:
    """``data`` after each edit: insert or overwrite bytes at a position, or truncate there."""
    for where, op, chunk in edits:
        at = where % (len(data) + 1)
        if op == "insert":
            data = data[:at] + chunk + data[at:]
        elif op == "overwrite":
            data = data[:at] + chunk + data[at + len(chunk):]
        else:
            data = data[:at]
    return data


def dump_json(obj: Any) -> bytes:
    """JSON bytes of ``obj``; lone surrogates are written as ``\\ud800`` escapes (as a model could)."""
    return json.dumps(obj, ensure_ascii=True).encode()


def json_lines(rows: Any) -> bytes:
    """A JSON-lines file of ``rows`` (a list; anything else is one row)."""
    return b"\n".join(dump_json(row) for row in (rows if isinstance(rows, list) else [rows])) + b"\n"
