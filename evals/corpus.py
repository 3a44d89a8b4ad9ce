"""Text corpora for perplexity: reading any corpus, and writing one from the retail environment.

``load_corpus(path, limit=None) -> list[str]`` reads the documents of:

- a ``.txt`` file (any other suffix that is not ``.jsonl`` counts as text too): documents are
  separated by blank lines (a line holding only whitespace counts as blank);
- a ``.jsonl`` file: one JSON object with a string ``"text"`` per line; blank lines are skipped;
- a directory: every ``*.txt`` and ``*.md`` file under it (recursively, sorted by path), one document
  per file (a file is a document; its blank lines are kept inside it).

Documents are stripped; empty ones are dropped; ``limit`` keeps the first N. A missing path, a file
that cannot be read or decoded as UTF-8, a JSON line that is not ``{"text": "..."}``, or a corpus with
no document raises ``CorpusError`` naming the file (and line) and the fix.

``write_corpus(db_path, out, split="test", ...) -> int`` renders the tau2 retail ``db.json`` as plain
English for users of one side of the user split that ``agentspec eval generate`` writes
(``user_split.json``; without one, the split is recomputed exactly as ``generate`` does with the
same ``seed`` and ``eval_fraction``). One document per user: their profile, then each order (status,
items with their options and prices, payments and refunds, tracking numbers). ``n`` users are drawn
by a seeded shuffle; an optional ``policy`` file (e.g. ``policy.md``) goes first as one document. The file is
written atomically in the ``.txt`` format above and the number of documents is returned. Held-out
(``test``) users' text is what a model specialized on ``train`` users has never seen: perplexity on
it measures staleness and drift.

Not here: scoring (``perplexity``); text of other domains (point ``load_corpus`` at any text).
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

__all__ = ["CorpusError", "load_corpus", "render_user", "write_corpus"]

_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


class CorpusError(AgentSpecError):
    """A corpus that is missing, unreadable, malformed or empty."""

    code = "corpus"


# ---- reading --------------------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          hint="convert it to UTF-8 (e.g. iconv -t utf-8) or leave it out") from None
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}",
                          hint="check the path and its permissions") from None


def _jsonl_documents(path: Path) -> list[str]:
    docs = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}, line {number}: not JSON ({exc.msg})",
                              hint='write one object per line: {"text": "..."}') from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise CorpusError(f"{path}, line {number}: no string field \"text\"",
                              hint='write one object per line: {"text": "..."}')
        docs.append(record["text"])
    return docs


def load_corpus(path: str | os.PathLike[str], limit: int | None = None) -> list[str]:
    """The documents of a .txt / .jsonl file or a directory of .txt/.md files (see the module doc)."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist",
                          hint="pass a .txt file, a .jsonl file or a directory of .txt/.md files; "
                               "`agentspec eval corpus --db DB --out FILE` writes a retail one")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".md"))
        raw = [_read_text(f) for f in files]
    elif path.suffix.lower() == ".jsonl":
        raw = _jsonl_documents(path)
    else:
        raw = _BLANK_LINES.split(_read_text(path).replace("\r\n", "\n"))
    docs = [d.strip() for d in raw if d.strip()]
    if not docs:
        what = "no .txt or .md file with text" if path.is_dir() else "no text"
        raise CorpusError(f"corpus {path} has {what}", hint="point at a corpus with at least one document")
    return docs[:limit] if limit else docs


# ---- writing the retail corpus -----------------------------------------------------------------------

def _money(amount: float) -> str:
    return f"${amount:.2f}"  # no thousands separator, as the retail tools and communicate_info write it


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _join(parts: list[str], word: str = "and") -> str:
    """"a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _item(item: dict[str, Any]) -> str:
    """"a Water Bottle (capacity: 1000ml, color: blue) for $47.84"."""
    options = ", ".join(f"{key}: {value}" for key, value in item.get("options", {}).items())
    return f"{_a(item['name'])}{f' ({options})' if options else ''} for {_money(item['price'])}"


def _method(user: dict[str, Any], method_id: str) -> str:
    method = user["payment_methods"].get(method_id, {"source": method_id})
    source = method.get("source")
    if source == "credit_card":
        return f"the {method['brand'].title()} credit card ending in {method['last_four']}"
    if source == "gift_card":
        return f"gift card {method_id}"
    if source == "paypal":
        return "PayPal"
    return f"payment method {method_id}"


def _order(user: dict[str, Any], order: dict[str, Any]) -> str:
    items = [_item(it) for it in order["items"]]
    sentences = [f"Order {order['order_id']} is {order['status']}.",
                 f"It contains {_join(items)}."]
    for payment in order.get("payment_history", []):
        verb = "was refunded to" if payment["transaction_type"] == "refund" else "was paid with"
        sentences.append(f"{_money(payment['amount'])} {verb} {_method(user, payment['payment_method_id'])}.")
    tracking = [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
    if tracking:
        sentences.append(f"Its tracking number{'s are' if len(tracking) > 1 else ' is'} {', '.join(tracking)}.")
    return " ".join(sentences)


def render_user(db: dict[str, Any], user_id: str) -> str:
    """One paragraph: the user's profile, then every order of theirs in the db."""
    user = db["users"][user_id]
    name = f"{user['name']['first_name']} {user['name']['last_name']}"
    a = user["address"]
    street = a["address1"] + (f", {a['address2']}" if a.get("address2") else "")
    methods = []
    for mid, m in user["payment_methods"].items():
        if m.get("source") == "gift_card":
            methods.append(f"a gift card ({mid}) with a balance of {_money(m.get('balance', 0.0))}")
        else:
            methods.append("a PayPal account" if m.get("source") == "paypal"
                           else _method(user, mid).replace("the ", "a ", 1))
    text = [f"{name} (user id {user_id}) lives at {street}, {a['city']}, {a['state']} {a['zip']}, {a['country']}.",
            f"Their email address is {user['email']}.",
            f"They can pay with {_join(methods, 'or')}."
            if methods else "They have no payment method on file."]
    orders = [db["orders"][oid] for oid in user.get("orders", []) if oid in db["orders"]]
    text.append(f"{name} has {len(orders)} order{'s' if len(orders) != 1 else ''}.")
    text += [_order(user, o) for o in orders]
    return " ".join(text)


def _split_users(db: dict[str, Any], split: str, user_split: Path | None, seed: int,
                 eval_fraction: float) -> list[str]:
    key = {"test": "eval_users", "train": "train_users"}.get(split)
    if key is None:
        raise CorpusError(f"unknown split {split!r}", hint="use test (held-out users) or train")
    if user_split is None:
        from .generate import user_split as compute_split

        train, held_out = compute_split(db, seed, eval_fraction)
        return held_out if split == "test" else train
    try:
        users = json.loads(_read_text(user_split))[key]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CorpusError(f"{user_split} is not a user split (no list {key!r})",
                          hint="pass the user_split.json that `agentspec eval generate` wrote") from None
    return [u for u in users if u in db["users"]]


def write_corpus(db_path: str | os.PathLike[str], out: str | os.PathLike[str], split: str = "test", *,
                 user_split: str | os.PathLike[str] | None = None, n: int | None = None, seed: int = 0,
                 eval_fraction: float = 0.3, policy: str | os.PathLike[str] | None = None) -> int:
    """Write the retail corpus of ``split``'s users to ``out``; return the number of documents."""
    from .generate import _load_db

    db = _load_db(db_path)
    users = _split_users(db, split, Path(user_split) if user_split else None, seed, eval_fraction)
    if not users:
        raise CorpusError(f"the {split} split has no user of {db_path}",
                          hint="check --user-split (it must come from this db) or --eval-fraction")
    users = sorted(users)
    random.Random(f"corpus:{seed}").shuffle(users)
    # The policy is one document; blank lines inside a document would split it in the .txt format.
    docs = [_BLANK_LINES.sub("\n", _read_text(Path(policy)).strip())] if policy else []
    docs += [render_user(db, uid) for uid in users[:n]]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return len(docs)
