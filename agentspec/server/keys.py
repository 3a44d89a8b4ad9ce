"""API keys of the server: integrations (customer-facing clients) and operators (people behind the queue).

Contract:
- A key is ``as_<role letter>_<32 random url-safe characters>``; only its SHA-256 is stored (in the
  backing's LangGraph store, namespace ``("agentspec", "keys")``), so the store never holds a usable
  key. Random 192-bit keys need no slow hash: nothing can be guessed from the digest.
- ``KeyRing.add(name, role)`` returns the key once; ``verify(key)`` gives its ``ApiKey`` or None;
  ``revoke(name)`` removes it; ``list()`` shows names and roles, never keys.
- The key's ``id`` (the first 16 hex digits of its digest) is what conversations are bound to.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from agentspec.errors import AgentSpecError

__all__ = ["ApiKey", "KeyRing", "ROLES", "Role"]

Role = Literal["integration", "operator"]
ROLES: tuple[str, ...] = ("integration", "operator")
_NAMESPACE = ("agentspec", "keys")


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created: float


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class KeyRing:
    def __init__(self, store: Any):
        self.store = store

    def add(self, name: str, role: str) -> str:
        """A new key for ``name`` with ``role``; the only time the key itself is seen."""
        if role not in ROLES:
            raise AgentSpecError(f"unknown role {role!r}", hint=f"Use one of: {', '.join(ROLES)}.", code="bad_role")
        if not name or len(name) > 64 or not name.isprintable():
            raise AgentSpecError(f"bad key name {name!r}", hint="Give 1-64 printable characters.", code="bad_key_name")
        if any(k.name == name for k in self.list()):
            raise AgentSpecError(f"a key named {name!r} exists", hint="Revoke it first, or choose another name.",
                                 code="key_exists")
        key = f"as_{role[0]}_{secrets.token_urlsafe(24)}"
        digest = _digest(key)
        self.store.put(_NAMESPACE, digest, {"name": name, "role": role, "created": time.time()})
        return key

    def verify(self, key: str) -> ApiKey | None:
        """The key's record, or None for a key nobody issued (or one revoked)."""
        if not key or len(key) > 128:
            return None
        digest = _digest(key)
        item = self.store.get(_NAMESPACE, digest)
        if item is None:
            return None
        value = item.value
        return ApiKey(id=digest[:16], name=value["name"], role=value["role"], created=value["created"])

    def list(self) -> list[ApiKey]:
        items = self.store.search(_NAMESPACE, limit=10_000)
        return sorted((ApiKey(id=i.key[:16], name=i.value["name"], role=i.value["role"], created=i.value["created"])
                       for i in items), key=lambda k: k.created)

    def revoke(self, name: str) -> bool:
        """Remove the key named ``name``; False when there is none."""
        for item in self.store.search(_NAMESPACE, limit=10_000):
            if item.value.get("name") == name:
                self.store.delete(_NAMESPACE, item.key)
                return True
        return False
