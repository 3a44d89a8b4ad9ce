"""The reader's encoded features, kept between runs and reused message by message.

Contract: ``cached_features(path, rows, tag_rows, meta, compute)`` returns the features of ``rows``
(``sentence`` per row; ``tokens``, ``token_labels``, ``token_owner`` for the rows of ``tag_rows``, in
row order), as ``compute(indices, tagged)`` would for all of them. A row whose text and spans a
previous run stored in ``path`` (under the same ``meta``: tag labels and settings) is not encoded
again; only new or changed messages are. The file is replaced atomically after each run. A file of
another ``meta`` or format is ignored (everything is encoded).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cached_features", "row_key"]

Features = dict[str, np.ndarray]


def row_key(row: dict[str, Any]) -> str:
    """What decides a row's features: its text and its spans."""
    return json.dumps([row["text"], row.get("spans", [])], ensure_ascii=False)


def cached_features(path: Path, rows: list[dict[str, Any]], tag_rows: set[int], meta: str,
                    compute: Callable[[list[int], set[int]], Features]) -> Features:
    keys = [row_key(r) for r in rows]
    old = _load(path, meta)
    where = {k: i for i, k in enumerate(old["row_keys"])} if old else {}
    old_spans = _token_spans(old["token_owner"]) if old else {}
    tokens_of = {old["row_keys"][i]: span for i, span in old_spans.items()} if old else {}  # a duplicate may hold them
    need = [i for i, k in enumerate(keys) if k not in where or (i in tag_rows and k not in tokens_of)]
    fresh = compute(need, {i for i in need if i in tag_rows}) if need else None
    local = {i: j for j, i in enumerate(need)}
    fresh_spans = _token_spans(fresh["token_owner"]) if fresh else {}
    sentence = np.stack([fresh["sentence"][local[i]] if i in local else old["sentence"][where[k]]  # type: ignore[index]
                         for i, k in enumerate(keys)])
    tokens, labels, owner = [], [], []
    for i in sorted(tag_rows):
        source, span = (fresh, fresh_spans.get(local[i], (0, 0))) if i in local else (old, tokens_of[keys[i]])
        tokens.append(source["tokens"][span[0]:span[1]])  # type: ignore[index]
        labels.append(source["token_labels"][span[0]:span[1]])  # type: ignore[index]
        owner += [i] * (span[1] - span[0])
    features = {"sentence": sentence.astype(np.float32),
                "tokens": np.concatenate(tokens) if tokens else np.zeros((0, 1152), np.float16),
                "token_labels": np.concatenate(labels) if labels else np.zeros(0, np.int64),
                "token_owner": np.asarray(owner, np.int64)}
    _save(path, meta, keys, features)
    return features


def _token_spans(owner: np.ndarray) -> dict[int, tuple[int, int]]:
    """Row -> (start, end) of its tokens; rows appear in contiguous runs."""
    rows, starts, counts = np.unique(owner, return_index=True, return_counts=True)
    return {int(r): (int(s), int(s + c)) for r, s, c in zip(rows, starts, counts)}


def _load(path: Path, meta: str) -> Features | None:
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if "row_keys" not in stored.files or str(stored["meta"]) != meta:
            return None
        out = {name: stored[name] for name in stored.files if name not in ("meta", "row_keys")}
        out["row_keys"] = json.loads(str(stored["row_keys"]))
    return out


def _save(path: Path, meta: str, keys: list[str], features: Features) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, meta=np.asarray(meta), row_keys=np.asarray(json.dumps(keys, ensure_ascii=False)), **features)
    partial.replace(path)
