"""``RetailStore``: the tau2-bench retail environment as a SQLite-backed store with its 16 agent tools.

Contract:
- Build one with ``RetailStore.from_json(db.json path or dict, db_path=None)`` or reopen a file with
  ``RetailStore.open(db_path)``. With ``db_path=None`` the SQLite file (WAL mode needs a real file)
  lives in a private temporary directory removed by ``close()`` (or when the store is collected).
- ``to_json()`` gives back the db.json structure; ``state_hash()`` is a canonical sha256 of it,
  independent of insertion and key order; ``copy()`` is an independent sandbox with the same state.
- The 16 tools are methods with tau2's names, arguments and semantics (see ``_reads``/``_writes``).
  Each returns the observation string: JSON, an id, a number, or ``"Error: <why>"`` when it refuses,
  in which case the state is unchanged. Writes are atomic.
- ``invoke(name, arguments)`` is how a model's call arrives: a bad call (unknown tool, missing,
  unknown or mistyped argument) is an ``Error:`` observation; an unexpected exception inside a tool is
  our bug and propagates.
- ``READ_TOOLS``, ``WRITE_TOOLS`` and ``AUTH_TOOLS`` classify the tools for the policy layer
  (authentication first, confirmation before writes).
- ``behaviour`` (``BEHAVIOURS``, fixed at creation, kept by copies and reopened files): ``corrected``
  (the default, for real use) or ``tau2``, which reproduces tau2's own environment where it differs
  (``_writes``), so reference trajectories end in the state tau2 computes.

It does not enforce the conversational policy (authenticate first, one user per conversation, explicit
confirmation): those belong to the agent's policy layer, which these constants serve.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from agentspec.hooks import Explained, IdentifierShapes

from ._addresses import ADDRESS_WRITES, implausible_address
from ._calling import check_arguments
from ._memory import stated_memories, verify_memory, write_memories
from ._mentions import mentioned
from ._policy import call_owners
from ._refusals import explain_refusal
from ._shapes import RETAIL_SHAPES
from ._asking import ask_targets
from ._statements import ask_argument, claims_done, describe_call, report_call
from ._summaries import summarize_read
from ._reads import ReadTools
from ._sqlite import Database
from ._writes import WriteTools

__all__ = ["RetailStore"]


class RetailStore(ReadTools, WriteTools):
    """The retail database (SQLite, WAL, atomic writes) and the 16 tau2 retail tools as methods."""

    name: ClassVar[str] = "retail"
    # How its identifiers look in free text and JSON: the grammar's grounding collects them (agentspec.hooks).
    identifier_shapes: ClassVar[IdentifierShapes] = RETAIL_SHAPES

    # The two ways to authenticate a user (the policy requires one before anything else).
    AUTH_TOOLS: ClassVar[tuple[str, ...]] = ("find_user_id_by_email", "find_user_id_by_name_zip")
    READ_TOOLS: ClassVar[tuple[str, ...]] = (
        *AUTH_TOOLS,
        "get_user_details",
        "get_order_details",
        "get_product_details",
        "get_item_details",
        "list_all_product_types",
    )
    # The tools that change the database: the policy asks for explicit confirmation before each.
    WRITE_TOOLS: ClassVar[tuple[str, ...]] = (
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
    )
    # Neither read nor write: a calculator and the hand-off.
    GENERIC_TOOLS: ClassVar[tuple[str, ...]] = ("calculate", "transfer_to_human_agents")
    TOOL_NAMES: ClassVar[tuple[str, ...]] = (*READ_TOOLS, *WRITE_TOOLS, *GENERIC_TOOLS)
    BEHAVIOURS: ClassVar[tuple[str, ...]] = ("corrected", "tau2")

    def __init__(self, database: Database) -> None:
        """Wrap an open ``Database``; use ``from_json`` or ``open`` to build one."""
        self._db = database
        self.source_dir: Path | None = None  # the folder of the db.json it started from (documents)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_json(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any],
        db_path: str | os.PathLike[str] | None = None,
        *,
        behaviour: str = "corrected",
    ) -> RetailStore:
        """A new store holding the state of a db.json file (or of the already parsed dict).

        Args:
            source: Path of a tau2 retail db.json, or its parsed content.
            db_path: Where to create the SQLite file (must not exist); None for a private temp file.
            behaviour: ``corrected`` or ``tau2`` (module docstring); anything else is a ValueError.
        """
        if behaviour not in cls.BEHAVIOURS:
            raise ValueError(f"unknown retail store behaviour {behaviour!r}; use one of {cls.BEHAVIOURS}")
        if isinstance(source, Mapping):
            data = json.loads(json.dumps(source))  # a deep copy that is also proven JSON-serialisable
        else:
            with open(source, encoding="utf-8") as f:
                data = json.load(f)
        return cls(Database.create(data, db_path, {"behaviour": behaviour}))

    @classmethod
    def open(cls, db_path: str | os.PathLike[str]) -> RetailStore:
        """Reopen a SQLite store created with ``from_json(..., db_path=...)`` or ``copy(db_path)``."""
        return cls(Database.open(db_path))

    def copy(self, db_path: str | os.PathLike[str] | None = None) -> RetailStore:
        """An independent store with the same state (a sandbox: its writes do not touch this one)."""
        return type(self)(self._db.backup_to(db_path))

    # -- state -------------------------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        """The SQLite file behind this store."""
        return self._db.path

    @property
    def behaviour(self) -> str:
        """``corrected`` or ``tau2``: whose bookkeeping the write tools follow where the two differ."""
        return self._db.setting("behaviour") or "corrected"

    def to_json(self) -> dict[str, Any]:
        """The whole state in the db.json structure: ``{"products": ..., "users": ..., "orders": ...}``."""
        return self._db.dump()

    def count(self, section: str) -> int:
        """How many products, users or orders (``section``) the store holds."""
        return self._db.count(section)

    def state_hash(self) -> str:
        """sha256 hex digest of the canonical JSON of the state (sorted keys; order-independent)."""
        return self._db.state_hash()

    def close(self) -> None:
        """Close the database; a private temporary file is deleted. Idempotent."""
        self._db.close()

    def __enter__(self) -> RetailStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else str(self._db.path)
        return f"<RetailStore {state}>"

    # -- tools -------------------------------------------------------------------------------------

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The names of the 16 tools, in a fixed order (reads, writes, generic)."""
        return self.TOOL_NAMES

    def functions(self) -> list[Callable[..., str]]:
        """The bound tool methods in ``tool_names`` order; signature + docstring describe each one."""
        return [getattr(self, name) for name in self.TOOL_NAMES]

    def owners(self, name: str, arguments: Mapping[str, Any]) -> set[str]:
        """The user ids whose data the call ``name(**arguments)`` touches (the one-user-per-session
        policy hook; see ``_policy.call_owners``). Empty: no user's data, or an unknown entity."""
        return call_owners(self._db, name, arguments)

    def describe(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The sentence that states write ``name(**arguments)`` before asking for confirmation."""
        return describe_call(self._db, name, arguments)

    def check(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The error write ``name(**arguments)`` would answer now, found by running it on a sandbox copy;
        None when it would succeed (or for a read). The graph asks before stating a write, so the user
        is never asked to confirm something the tool will refuse."""
        if name not in self.WRITE_TOOLS:
            return None
        if name in ADDRESS_WRITES and (problem := implausible_address(dict(arguments))):
            return problem
        with self.copy() as sandbox:
            observation = sandbox.invoke(name, arguments)
        if not observation.startswith("Error"):
            return None
        order = self._db.get("orders", str(arguments.get("order_id"))) if "order_id" in arguments else None
        if order is not None and re.search(r"Non-\w+ order", observation):
            # "Non-pending order cannot be cancelled" says what it is not; the customer asked what it is.
            observation = f"{observation} (order {order['order_id']} is {order['status']})"
        return observation

    def once(self, key: str, run: Callable[[], str]) -> tuple[str, bool]:
        """Run the write ``run`` at most once per ``key`` (the ``once`` hook): in one transaction with the
        record of ``key`` and its observation, so the write and its record commit together. A key
        already recorded answers ``(its observation, False)`` without running; else ``(observation, True)``."""
        with self._db.transaction() as db:
            done = db.applied_observation(key)
            if done is not None:
                return done, False
            observation = run()
            db.record_applied(key, observation)
        return observation, True

    def report(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The sentence that says write ``name(**arguments)`` is done, after it succeeded."""
        return report_call(self._db, name, arguments)

    @staticmethod
    def claims_done(text: str) -> bool:
        """Whether a reply says a write is done, as the reports do ("Order #W1 has been cancelled")."""
        return claims_done(text)

    def explain(self, name: str, arguments: Mapping[str, Any], error: str) -> Explained | None:
        """The customer's words for write ``name(**arguments)`` refused with ``error``: a version not in
        stock and the closest ones that are (``_refusals``); None for any other refusal."""
        return explain_refusal(self._db, name, arguments, error)

    def ask(self, name: str, arguments: Mapping[str, Any], argument: str, user: str | None = None,
            texts: Sequence[str] = ()) -> Explained | None:
        """The question for what write ``name`` needs and the customer (their words so far: ``texts``) has
        not named: its payment method (``_statements``), its order, items, their new versions or a
        cancel's reason (``_asking``); with the one choice it offers, if one."""
        asked = (ask_argument(self._db, name, arguments, argument)
                 or ask_targets(self._db, name, arguments, argument, user, texts))
        return Explained(asked) if isinstance(asked, str) else asked

    def summary(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The answer to a question about the record lookup ``name(**arguments)`` returns (``_summaries``)."""
        return summarize_read(self._db, name, arguments)

    def mentions(self, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
                 seen: dict[str, list[str]] | None = None,
                 slots: list[dict[str, list[str]]] | None = None, tool: str | None = None) -> list[str] | None:
        """The seen ids of ``kind`` that the user's ``texts`` refer to (orders by their products,
        payment methods by kind or last four digits, an exchange's new variant by the options said; see
        ``_mentions``), for ``tool``'s ``argument``; None for another kind."""
        return mentioned(self._db, kind, texts, candidates, argument, seen, slots, tool)

    def memories(self, name: str, arguments: Mapping[str, Any], observation: str) -> list[dict[str, str]]:
        """What the successful write ``name(**arguments)`` leaves worth remembering (``_memory``)."""
        return write_memories(self._db, name, arguments, observation)

    def stated_memories(self, user_id: str, label: str, texts: list[str],
                        slots: list[dict[str, list[str]]] | None = None) -> list[dict[str, str]]:
        """What a customer's words asked to keep, resolved against this store (``_memory``)."""
        return stated_memories(self._db, user_id, label, texts)

    def verify_memory(self, user_id: str, memory: Mapping[str, Any]) -> dict[str, Any]:
        """Whether a recalled memory still holds for ``user_id`` in this store (``_memory``)."""
        return verify_memory(self._db, user_id, memory)

    def documents(self) -> list[Any]:
        """The documents retrieval indexes (``_documents``): the catalogue of this store's products, the
        packaged FAQ and, when the folder of the db.json it started from has one, the policy."""
        from ._documents import shop_documents

        policy = self.source_dir / "policy.md" if self.source_dir is not None else None
        text = policy.read_text(encoding="utf-8", errors="replace") if policy is not None and policy.is_file() else None
        return shop_documents(dict(self._db.items("products")), text)

    def call_problem(self, name: str, arguments: Any) -> str | None:
        """Why ``name(**arguments)`` cannot even run (unknown tool; missing, unknown or mistyped argument),
        as the ``Error:`` observation ``invoke`` would give; None for a call that fits a tool's signature."""
        if name not in self.TOOL_NAMES:
            return f"Error: unknown tool {name!r}; available tools: {', '.join(self.TOOL_NAMES)}"
        return check_arguments(name, getattr(self, name), arguments)

    def invoke(self, name: str, arguments: Mapping[str, Any] | None = None) -> str:
        """Run tool ``name`` with ``arguments`` (a JSON object) and return the observation the model sees.

        A bad call is answered with an ``Error:`` observation; an exception from a tool is not caught.
        """
        arguments = {} if arguments is None else arguments
        if isinstance(arguments, Mapping):
            arguments = dict(arguments)
        problem = self.call_problem(name, arguments)
        if problem is not None:
            return problem
        return getattr(self, name)(**arguments)
