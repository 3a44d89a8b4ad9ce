"""Retail toolkit: the tau2-bench retail environment on SQLite, with its 16 agent tools.

``load_toolkit(db)`` is the entry-point factory: ``db`` is a tau2 ``db.json`` (a fresh store in a
private temporary file) or a SQLite file written earlier by this package (reopened in place).

    from agentspec.tools.retail import load_toolkit

    with load_toolkit("../shared/data/tau2-retail/db.json") as store:
        store.invoke("find_user_id_by_email", {"email": "noah.brown7922@example.com"})
"""
from __future__ import annotations

import os
from pathlib import Path

from ._dbfile import read_db_json
from ._documents import retail_documents
from ._ids import CANCEL_REASONS, IDENTIFIER_KINDS, CancelReason, ItemId, OrderId, PaymentMethodId, ProductId, UserId
from ._shapes import RETAIL_SHAPES
from ._session import open_session, resolve_retail_db
from .store import RetailStore

__all__ = [
    "RetailStore",
    "RETAIL_SHAPES",
    "load_toolkit",
    "read_db_json",
    "retail_documents",
    "resolve_retail_db",
    "CANCEL_REASONS",
    "CancelReason",
    "UserId",
    "OrderId",
    "ItemId",
    "ProductId",
    "PaymentMethodId",
]


def load_toolkit(db: str | os.PathLike[str], store: str | os.PathLike[str] | None = None) -> RetailStore:
    """The retail store for ``db``: a ``.json`` file is loaded into a new private store (a broken one is
    an ``AgentSpecError``: ``read_db_json``), anything else is opened as an existing SQLite store (writes
    then go to that file). With ``store``, the shared live shop at that path (``_session``), created from
    ``db`` on first use."""
    if store is not None:
        return open_session({"db": str(db), "store": str(store)}, None, None)
    path = Path(db)
    if path.suffix.lower() == ".json":
        return RetailStore.from_json(read_db_json(path))
    return RetailStore.open(path)


# Lets `agentspec validate` check tool names and identifier kinds in a spec's policy without building a store.
load_toolkit.tool_names = RetailStore.TOOL_NAMES  # type: ignore[attr-defined]
load_toolkit.identifier_kinds = IDENTIFIER_KINDS  # type: ignore[attr-defined]
# A session's own store, created on first use and reopened on resume (agentspec.hooks).
load_toolkit.open_session = open_session  # type: ignore[attr-defined]
# The documents retrieval indexes (policy, catalogue, FAQ) of a data folder: `agentspec retrieval index`.
load_toolkit.documents = retail_documents  # type: ignore[attr-defined]
