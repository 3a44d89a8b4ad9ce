"""Reading a tau2 retail ``db.json``: its bytes, its JSON and its top-level shape, or a clear error.

Contract: ``read_db_json(path)`` returns the parsed db, a dict ``{"products", "users", "orders"}``,
each mapping an id to an entity object that carries the same id under ``product_id`` / ``user_id`` /
``order_id``. A file that is missing, not UTF-8, not JSON (a truncated copy) or of another shape is an
``AgentSpecError`` (code ``retail_db``) naming the file and what is wrong, never a traceback. The
entities' other fields are not checked here: the tools read them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

__all__ = ["read_db_json", "shape_problem"]

_ID_KEYS = {"products": "product_id", "users": "user_id", "orders": "order_id"}
_HINT = "Point it at a complete tau2-bench retail db.json (an object with products, users and orders)."


def read_db_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed retail db at ``path`` (module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise AgentSpecError(f"cannot read the retail db {path}: {exc.strerror or exc}", hint=_HINT,
                             code="retail_db") from None
    except UnicodeDecodeError as exc:
        raise AgentSpecError(f"{path} is not a retail db.json: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at "
                             f"offset {exc.start})", hint=_HINT, code="retail_db") from None
    except json.JSONDecodeError as exc:
        raise AgentSpecError(f"{path} is not a retail db.json: invalid JSON at line {exc.lineno}, column "
                             f"{exc.colno} ({exc.msg}; a truncated copy?)", hint=_HINT, code="retail_db") from None
    problem = shape_problem(data)
    if problem is not None:
        raise AgentSpecError(f"{path} is not a retail db.json: {problem}", hint=_HINT, code="retail_db")
    return data


def shape_problem(data: Any) -> str | None:
    """What is wrong with the top-level shape of a parsed retail db; None when it is right."""
    if not isinstance(data, dict):
        return f"the top level is a JSON {type(data).__name__}, not an object"
    if set(data) != set(_ID_KEYS):
        return f"the top-level keys are {sorted(data)}, not exactly {sorted(_ID_KEYS)}"
    for section, id_key in _ID_KEYS.items():
        entities = data[section]
        if not isinstance(entities, dict):
            return f"{section!r} is a JSON {type(entities).__name__}, not an object of id -> entity"
        for key, entity in entities.items():
            if not isinstance(entity, dict) or entity.get(id_key) != key:
                return f"{section}[{key!r}] is not an object whose {id_key} is {key!r}"
    return None
