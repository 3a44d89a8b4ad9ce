"""A reader for the clinic tests: keyword rules over French words in place of a trained reader (a test double).

It implements the real ``agentspec.routing.reader.Reader`` protocol with the clinic's own labels:
requests ``cancel_visit``, ``move_visit`` and ``when_visit`` (a question about a visit), the tag ``medecin`` (a doctor's name the patient gives)
and the choice head ``motif`` (why a visit is cancelled, labelled with the cancel tool's own values).
``readings`` overrides it for exact texts, so a test can say precisely what was read.
"""
from __future__ import annotations

import re

from agentspec.routing.reader import Reading

__all__ = ["ClinicReader"]

REQUEST_WORDS = {
    "cancel_visit": ("annuler", "annulez", "annulation"),
    "move_visit": ("déplacer", "déplacez", "décaler", "décalez", "changer l'heure", "autre créneau"),
    "when_visit": ("à quelle heure", "c'est quand", "quand est"),
}
MOTIF_WORDS = {
    "feeling better": ("je vais mieux", "ça va mieux", "guéri"),
    "scheduling conflict": ("conflit", "empêchement", "pas disponible"),
}
_YES = re.compile(r"^\s*(oui|d'accord|ok|allez-y|c'est bon|parfait)\b[ ,.!]*(merci|allez-y)?[ .!]*$", re.I)
_NO = re.compile(r"^\s*(non|surtout pas|pas question|laissez)\b", re.I)
_DOCTOR = re.compile(r"\b(?:Dr|Docteur|docteur)\.?\s+([A-Z][a-z]+)")


class ClinicReader:
    """Keyword rules with the clinic's labels (module docstring)."""

    request_classes = tuple(REQUEST_WORDS)
    tags = ("medecin",)
    choice_heads = {"motif": (*MOTIF_WORDS, "none")}

    def __init__(self, readings: dict[str, Reading] | None = None):
        self.readings = dict(readings or {})
        self.read_texts: list[str] = []

    def read(self, text: str) -> Reading:
        self.read_texts.append(text)
        if text in self.readings:
            return self.readings[text]
        low = text.lower()
        yes, no = bool(_YES.match(text)), bool(_NO.match(text))
        requests = {c: (0.9 if any(w in low for w in words) and not (yes or no) else 0.02)
                    for c, words in REQUEST_WORDS.items()}
        answer = {"yes": 0.97 if yes else 0.01, "no": 0.92 if no and not yes else 0.01}
        answer["other"] = round(1.0 - answer["yes"] - answer["no"], 3)
        slots = {"medecin": [m.group(0) for m in _DOCTOR.finditer(text)]}
        motif = next((m for m, words in MOTIF_WORDS.items() if any(w in low for w in words)), "none")
        choices = {"motif": {m: (0.95 if m == motif else 0.025) for m in self.choice_heads["motif"]}}
        return Reading(requests, answer, {k: v for k, v in slots.items() if v}, choices)
