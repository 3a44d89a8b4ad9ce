"""The clinic agent's spec, built in code: French messages, the clinic's request classes, its own policy.

``clinic_spec(**changes)`` validates the spec with ``AgentSpec.model_validate`` (no file, so no file
checks: the reader is injected by the test, ``understanding.reader`` only names it). ``changes`` are
merged into the data section by section (``clinic_spec(policy={"confirmation": {"determine": True}})``).
Everything the graph itself says comes from ``MESSAGES``; the desk's own sentences come from its hooks.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from agentspec.spec import AgentSpec

__all__ = ["MESSAGES", "clinic_data", "clinic_spec", "call", "reply"]

TEMPLATE = Path(__file__).with_name("clinic_system.j2")

MESSAGES = {
    "confirm": "{statement} Je confirme ? (oui/non)",
    "statement": "Je vais appeler {tool} avec {arguments}.",
    "reported": "C'est fait ({tool}). Puis-je faire autre chose pour vous ?",
    "cannot": "Je ne peux pas le faire : {reason}. Puis-je faire autre chose pour vous ?",
    "declined": "Entendu, je ne change rien. Puis-je faire autre chose pour vous ?",
    "not_yours": "Je ne peux m'occuper que du dossier de la personne identifiée ({user}).",
    "stopped": "Pouvez-vous me redire en une phrase ce que vous souhaitez ?",
    "identity_request": "Pour vous identifier, pouvez-vous me donner votre numéro de téléphone ?",
}


def clinic_data() -> dict[str, Any]:
    """The spec as plain data (what a YAML file would hold)."""
    return {
        "name": "clinic",
        "description": "Accueil d'un cabinet médical (second toolkit of the fast tier).",
        "model": {"backend": "scripted"},
        "understanding": {
            "reader": "clinic-reader (injected by the tests)",
            "requests": {"cancel_visit": ["cancel_appointment"], "move_visit": ["move_appointment", "list_slots"],
                         "when_visit": []},
            "questions": {"when_visit": ["get_appointment"]},
            "choices": {"reason": "motif"},
        },
        "toolkits": [{"name": "clinic"}],
        "prompts": {"system": str(TEMPLATE), "tools": "signatures"},
        "policy": {
            "authentication": {"tools": ["find_patient_by_phone"],
                               "required_by": ["get_patient", "get_appointment", "list_slots", "cancel_appointment", "move_appointment"],
                               "one_user_per_session": True, "act_on_identity": True},
            "confirmation": {"tools": ["cancel_appointment", "move_appointment"], "report": True},
            "targets": {"writes": ["appointment"]},
        },
        "messages": dict(MESSAGES),
        "limits": {"max_steps_per_turn": 6},
    }


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def clinic_spec(**changes: Any) -> AgentSpec:
    return AgentSpec.model_validate(_merge(clinic_data(), changes))


def call(name: str, **arguments: Any) -> str:
    """A scripted model step calling one tool."""
    return json.dumps({"calls": [{"name": name, "arguments": arguments}]}, ensure_ascii=False)


def reply(text: str) -> str:
    """A scripted model step replying to the patient."""
    return json.dumps({"reply": text}, ensure_ascii=False)
