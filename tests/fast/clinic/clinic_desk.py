"""A clinic's appointment desk: a second, tiny toolkit that proves the agent graph names no domain.

Contract:
- ``ClinicDesk(data, today)`` keeps patients, slots and appointments in plain dicts (``sample_data()``
  is the fixture the tests use; ``snapshot()`` is a deep copy of the state to compare against). Dates
  are ISO strings; an appointment whose day is before ``today`` is past.
- Its five tools are typed methods (``functions()``): ``find_patient_by_phone`` (the authentication:
  it answers the patient id), ``get_patient`` and ``list_slots`` (reads), ``cancel_appointment`` and
  ``move_appointment`` (the writes a spec puts under confirmation). A refusal raises ``ToolError``
  (the model sees ``Error: ...`` and the state is unchanged).
- Its hooks (``agentspec.hooks``): ``owners`` (a patient id is its own; an appointment is its
  patient's; a slot is the clinic's, nobody's), ``check`` (a write run on a deep copy: a past
  appointment cannot be cancelled or moved, a taken slot cannot be booked), ``describe``/``report``
  (its own sentences, in French), ``mentions`` (an appointment referred to by its doctor's name, or
  written out) and ``identifier_shapes`` (patients ``P-00042``, appointments ``APT-1234``, slots
  ``SLOT-0915-DRLEE``, French phone numbers; JSON keys ``visits``, ``slot``, ``free``).
- ``load_clinic(today=..., data=None)`` is a factory in the entry-point shape, carrying
  ``tool_names``, ``identifier_kinds`` and ``open_session`` (a session's desk is a JSON file in the
  session's folder, reopened on resume).

Not here: any policy (who may call what, when to ask): the spec says it and the graph enforces it.
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from agentspec.errors import ToolError
from agentspec.hooks import Explained, IdentifierShapes
from agentspec.tools.types import Identifier

__all__ = ["CLINIC_SHAPES", "ClinicDesk", "TODAY", "load_clinic", "sample_data"]

TODAY = "2030-03-15"

CLINIC_SHAPES = IdentifierShapes(
    patterns={
        "patient": r"P-\d{5}",
        "appointment": r"APT-\d{4}",
        "slot": r"SLOT-\d{4}-[A-Z]+",
        "phone": r"0[1-9](?:[ .]?\d{2}){4}",  # 06 12 34 56 78, 0612345678, 06.12.34.56.78
    },
    # Keys the generic ``<kind>_id`` rule would not read: a patient's visits are appointments (each with
    # its ``id``), a visit's ``slot`` and a doctor's ``free`` list are slots.
    keys={"visits": "appointment", "slot": "slot", "free": "slot"},
)

_REASONS = {"feeling better": "vous allez mieux", "scheduling conflict": "conflit d'agenda"}


def sample_data() -> dict[str, Any]:
    """Two patients, three doctors; Camille has an upcoming visit with Dr Lee and one with Dr Martin,
    and a past one with Dr Nguyen; Louis has one with Dr Lee."""
    def slot(day: str, time: str, doctor: str, taken_by: str | None = None) -> dict[str, Any]:
        return {"day": day, "time": time, "doctor": doctor, "taken_by": taken_by}

    return {
        "patients": {
            "P-00042": {"name": "Camille Durand", "phone": "06 12 34 56 78"},
            "P-00077": {"name": "Louis Bernard", "phone": "07 98 76 54 32"},
        },
        "slots": {
            "SLOT-0915-DRLEE": slot("2030-03-20", "09:15", "Dr Lee", "APT-1234"),
            "SLOT-1030-DRLEE": slot("2030-03-20", "10:30", "Dr Lee"),
            "SLOT-1100-DRLEE": slot("2030-03-20", "11:00", "Dr Lee", "APT-2002"),
            "SLOT-1400-DRMARTIN": slot("2030-03-21", "14:00", "Dr Martin", "APT-1300"),
            "SLOT-1600-DRMARTIN": slot("2030-03-21", "16:00", "Dr Martin"),
            "SLOT-0830-DRNGUYEN": slot("2030-03-10", "08:30", "Dr Nguyen", "APT-0901"),
        },
        "appointments": {
            "APT-1234": {"patient_id": "P-00042", "slot_id": "SLOT-0915-DRLEE", "status": "booked"},
            "APT-1300": {"patient_id": "P-00042", "slot_id": "SLOT-1400-DRMARTIN", "status": "booked"},
            "APT-0901": {"patient_id": "P-00042", "slot_id": "SLOT-0830-DRNGUYEN", "status": "booked"},
            "APT-2002": {"patient_id": "P-00077", "slot_id": "SLOT-1100-DRLEE", "status": "booked"},
        },
    }


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _when(slot: Mapping[str, Any]) -> str:
    """``20/03/2030 à 09:15``: how the desk says a slot's time."""
    year, month, day = slot["day"].split("-")
    return f"{day}/{month}/{year} à {slot['time']}"


class ClinicDesk:
    """The desk's state and its five tools (module docstring)."""

    name: ClassVar[str] = "clinic"
    identifier_shapes: ClassVar[IdentifierShapes] = CLINIC_SHAPES
    AUTH_TOOLS: ClassVar[tuple[str, ...]] = ("find_patient_by_phone",)
    READ_TOOLS: ClassVar[tuple[str, ...]] = ("get_patient", "get_appointment", "list_slots")
    WRITE_TOOLS: ClassVar[tuple[str, ...]] = ("cancel_appointment", "move_appointment")
    TOOL_NAMES: ClassVar[tuple[str, ...]] = (*AUTH_TOOLS, *READ_TOOLS, *WRITE_TOOLS)

    def __init__(self, data: Mapping[str, Any] | None = None, today: str = TODAY, path: Path | None = None):
        self.data: dict[str, Any] = copy.deepcopy(dict(data if data is not None else sample_data()))
        self.today = today
        self.path = path  # where a saved session's state lives (written after each write); None: memory only
        self.applied: dict[str, str] = {}  # idempotency key -> observation of the write run under it

    def functions(self) -> list[Callable[..., Any]]:
        return [getattr(self, name) for name in self.TOOL_NAMES]

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    # -- tools ---------------------------------------------------------------------------------

    def find_patient_by_phone(self, phone: Annotated[str, Identifier("phone")]) -> str:
        """Find the patient a phone number belongs to; every conversation starts here.

        Args:
            phone: The patient's phone number, as they gave it.
        """
        for patient_id, patient in self.data["patients"].items():
            if _digits(patient["phone"]) == _digits(phone):
                return patient_id
        raise ToolError(f"aucun patient n'a le numéro {phone}")

    def get_patient(self, patient_id: Annotated[str, Identifier("patient")]) -> dict[str, Any]:
        """A patient's name and visits (each with its doctor, day, time, slot and status).

        Args:
            patient_id: The patient's id, such as P-00042.
        """
        patient = self._patient(patient_id)
        visits = [{"id": appointment_id, **self._visit(appointment)}
                  for appointment_id, appointment in sorted(self.data["appointments"].items())
                  if appointment["patient_id"] == patient_id]
        return {"patient_id": patient_id, "name": patient["name"], "visits": visits}

    def get_appointment(self, appointment_id: Annotated[str, Identifier("appointment")]) -> dict[str, Any]:
        """One appointment: its doctor, day, time, slot and status.

        Args:
            appointment_id: The appointment, such as APT-1234.
        """
        appointment = self.data["appointments"].get(appointment_id)
        if appointment is None:
            raise ToolError(f"le rendez-vous {appointment_id} n'existe pas")
        return {"id": appointment_id, **self._visit(appointment)}

    def list_slots(self, doctor: str) -> dict[str, Any]:
        """The free upcoming slots of a doctor.

        Args:
            doctor: The doctor's name, such as "Dr Lee".
        """
        wanted = doctor.lower().removeprefix("dr").strip(" .")
        doctors = {s["doctor"] for s in self.data["slots"].values()}
        match = next((d for d in sorted(doctors) if d.lower().removeprefix("dr").strip(" .") == wanted), None)
        if match is None:
            raise ToolError(f"aucun médecin nommé {doctor} (médecins : {', '.join(sorted(doctors))})")
        free = [slot_id for slot_id, s in sorted(self.data["slots"].items())
                if s["doctor"] == match and s["taken_by"] is None and s["day"] >= self.today]
        return {"doctor": match, "free": free}

    def cancel_appointment(self, appointment_id: Annotated[str, Identifier("appointment")],
                           reason: Literal["feeling better", "scheduling conflict"]) -> dict[str, Any]:
        """Cancel an upcoming appointment; its slot becomes free.

        Args:
            appointment_id: The appointment, such as APT-1234.
            reason: Why the patient cancels.
        """
        appointment = self._upcoming(appointment_id, "annulé")
        self.data["slots"][appointment["slot_id"]]["taken_by"] = None
        appointment.update(status="cancelled", reason=reason)
        self._save()
        return {"id": appointment_id, **self._visit(appointment)}

    def move_appointment(self, appointment_id: Annotated[str, Identifier("appointment")],
                         slot_id: Annotated[str, Identifier("slot")]) -> dict[str, Any]:
        """Move an upcoming appointment to a free slot.

        Args:
            appointment_id: The appointment, such as APT-1234.
            slot_id: The free slot to move it to, such as SLOT-1030-DRLEE.
        """
        appointment = self._upcoming(appointment_id, "déplacé")
        slot = self.data["slots"].get(slot_id)
        if slot is None:
            raise ToolError(f"le créneau {slot_id} n'existe pas")
        if slot["taken_by"] is not None:
            raise ToolError(f"le créneau {slot_id} ({slot['doctor']}, {_when(slot)}) est déjà pris")
        if slot["day"] < self.today:
            raise ToolError(f"le créneau {slot_id} ({_when(slot)}) est passé")
        self.data["slots"][appointment["slot_id"]]["taken_by"] = None
        slot["taken_by"] = appointment_id
        appointment["slot_id"] = slot_id
        self._save()
        return {"id": appointment_id, **self._visit(appointment)}

    # -- hooks (agentspec.hooks) ---------------------------------------------------------------

    def owners(self, name: str, arguments: Mapping[str, Any]) -> set[str]:
        """The patients whose data the call touches: a patient id's own, an appointment's patient."""
        found: set[str] = set()
        if arguments.get("patient_id") in self.data["patients"]:
            found.add(str(arguments["patient_id"]))
        appointment = self.data["appointments"].get(str(arguments.get("appointment_id")))
        if appointment is not None:
            found.add(appointment["patient_id"])
        return found

    def check(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The error write ``name`` would answer now, found by running it on a copy; None when it would pass."""
        if name not in self.WRITE_TOOLS:
            return None
        sandbox = ClinicDesk(self.data, self.today)
        try:
            getattr(sandbox, name)(**arguments)
        except ToolError as exc:
            return f"Error: {exc.message}"
        return None

    def describe(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The desk's sentence stating a write before it is confirmed (None for what it does not know)."""
        appointment = self.data["appointments"].get(str(arguments.get("appointment_id")))
        if appointment is None:
            return None
        old = self.data["slots"][appointment["slot_id"]]
        if name == "cancel_appointment":
            reason = _REASONS.get(str(arguments.get("reason")), str(arguments.get("reason")))
            return (f"J'annule votre rendez-vous {arguments['appointment_id']} avec {old['doctor']} le {_when(old)} "
                    f"(motif : {reason}).")
        new = self.data["slots"].get(str(arguments.get("slot_id")))
        if name == "move_appointment" and new is not None:
            return (f"Je déplace votre rendez-vous {arguments['appointment_id']} avec {old['doctor']} du {_when(old)} "
                    f"au {_when(new)} avec {new['doctor']}.")
        return None

    def report(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The desk's sentence saying a write is done, read from the state."""
        appointment = self.data["appointments"].get(str(arguments.get("appointment_id")))
        if appointment is None:
            return None
        slot = self.data["slots"][appointment["slot_id"]]
        if name == "cancel_appointment" and appointment["status"] == "cancelled":
            return (f"Votre rendez-vous {arguments['appointment_id']} avec {slot['doctor']} du {_when(slot)} est "
                    f"annulé ; le créneau est libéré.")
        if name == "move_appointment":
            return f"Votre rendez-vous {arguments['appointment_id']} est maintenant le {_when(slot)} avec {slot['doctor']}."
        return None

    def claims_done(self, text: str) -> bool:
        """Whether a reply says, as the desk's reports do, that an appointment was cancelled or moved."""
        return re.search(r"\b(?:est annulé|est maintenant le|a été (?:annulé|déplacé))\b", text, re.I) is not None

    def explain(self, name: str, arguments: Mapping[str, Any], error: str) -> Explained | None:
        """A move to a slot already taken: the doctor's free slots, and the move waits for a choice."""
        slot = self.data["slots"].get(str(arguments.get("slot_id")))
        if name != "move_appointment" or slot is None or slot["taken_by"] is None:
            return None
        free = self._free(slot["doctor"])
        if not free:
            return None
        return Explained(f"Le créneau du {_when(slot)} avec {slot['doctor']} est déjà pris. Créneaux libres : "
                         f"{free}. Lequel vous convient ?", keeps_request=True, offer=self._only_free(slot["doctor"]))

    def ask(self, name: str, arguments: Mapping[str, Any], argument: str, user: str | None = None,
            texts: Sequence[str] = ()) -> str | Explained | None:
        """The slot of a move the patient has not chosen: the free slots of the appointment's doctor (the
        one free slot is offered); the appointment of a cancel the patient (``user``) has not named: their
        upcoming ones."""
        if name == "cancel_appointment" and argument == "appointment_id" and user is not None:
            booked = self._booked(user)
            return f"Quel rendez-vous souhaitez-vous annuler : {booked} ?" if booked else None
        appointment = self.data["appointments"].get(str(arguments.get("appointment_id")))
        if name != "move_appointment" or argument != "slot_id" or appointment is None:
            return None
        doctor = self.data["slots"][appointment["slot_id"]]["doctor"]
        free = self._free(doctor)
        return Explained(f"Quel créneau vous convient : {free} ?", offer=self._only_free(doctor)) if free else None

    def summary(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The desk's answer to a question about an appointment (``get_appointment``), read from the state."""
        appointment = self.data["appointments"].get(str(arguments.get("appointment_id")))
        if name != "get_appointment" or appointment is None:
            return None
        slot = self.data["slots"][appointment["slot_id"]]
        state = "annulé" if appointment["status"] == "cancelled" else "prévu"
        return f"Votre rendez-vous {arguments['appointment_id']} avec {slot['doctor']} est {state} le {_when(slot)}."

    def once(self, key: str, run: Callable[[], str]) -> tuple[str, bool]:
        """The write ``run`` at most once per ``key``; the key is saved with the state the write made (one
        file write after it: a crash between the tool's own save and this one runs it again on resume)."""
        if key in self.applied:
            return self.applied[key], False
        observation = run()
        self.applied[key] = observation
        self._save()
        return observation, True

    def mentions(self, kind: str, texts: list[str], candidates: list[str], argument: str | None = None,
                 seen: dict[str, list[str]] | None = None,
                 slots: list[dict[str, list[str]]] | None = None, tool: str | None = None) -> list[str] | None:
        """The seen appointments the user's words refer to: written out, or by their doctor's name (the
        reader's ``medecin`` spans when it found any, else the words themselves); None for other kinds."""
        if kind != "appointment":
            return None
        words = [w for s in slots or [] for w in s.get("medecin", [])] or texts
        found = []
        for appointment_id in candidates:
            appointment = self.data["appointments"].get(appointment_id)
            if appointment is None:
                continue
            surname = self.data["slots"][appointment["slot_id"]]["doctor"].split()[-1]
            by_name = any(re.search(rf"\b{re.escape(surname)}\b", w, re.I) for w in words)
            if by_name or any(appointment_id in t for t in texts):
                found.append(appointment_id)
        return found

    # -- internals -----------------------------------------------------------------------------

    def _patient(self, patient_id: str) -> dict[str, Any]:
        patient = self.data["patients"].get(patient_id)
        if patient is None:
            raise ToolError(f"aucun patient {patient_id}")
        return patient

    def _visit(self, appointment: Mapping[str, Any]) -> dict[str, Any]:
        slot = self.data["slots"][appointment["slot_id"]]
        status = appointment["status"]
        if status == "booked":
            status = "past" if slot["day"] < self.today else "upcoming"
        return {"doctor": slot["doctor"], "day": slot["day"], "time": slot["time"], "slot": appointment["slot_id"],
                "status": status}

    def _upcoming(self, appointment_id: str, verb: str) -> dict[str, Any]:
        appointment = self.data["appointments"].get(appointment_id)
        if appointment is None:
            raise ToolError(f"aucun rendez-vous {appointment_id}")
        slot = self.data["slots"][appointment["slot_id"]]
        if appointment["status"] == "cancelled":
            raise ToolError(f"le rendez-vous {appointment_id} est déjà annulé")
        if slot["day"] < self.today:
            raise ToolError(f"le rendez-vous {appointment_id} du {_when(slot)} est passé : il ne peut plus être {verb}")
        return appointment

    def _booked(self, patient_id: str) -> str:
        """The patient's booked upcoming appointments ("le 20/03/2030 à 09:15 avec Dr Lee (APT-1234) ou ...")."""
        said = []
        for appointment_id, appointment in sorted(self.data["appointments"].items()):
            slot = self.data["slots"][appointment["slot_id"]]
            if appointment["patient_id"] == patient_id and appointment["status"] == "booked" and slot["day"] >= self.today:
                said.append(f"le {_when(slot)} avec {slot['doctor']} ({appointment_id})")
        return " ou ".join(said)

    def _free(self, doctor: str) -> str:
        """The doctor's free upcoming slots, as the desk says them ("le 20/03/2030 à 10:30 (SLOT-1030-DRLEE)")."""
        return ", ".join(f"le {_when(s)} ({slot_id})" for slot_id, s in sorted(self.data["slots"].items())
                         if s["doctor"] == doctor and s["taken_by"] is None and s["day"] >= self.today)

    def _only_free(self, doctor: str) -> str | None:
        """The id of the doctor's one free upcoming slot; None when there are none or several."""
        free = [slot_id for slot_id, s in self.data["slots"].items()
                if s["doctor"] == doctor and s["taken_by"] is None and s["day"] >= self.today]
        return free[0] if len(free) == 1 else None

    def _save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps({"today": self.today, "data": self.data, "applied": self.applied},
                                            ensure_ascii=False))


def load_clinic(today: str = TODAY, data: Mapping[str, Any] | None = None) -> ClinicDesk:
    """The entry-point factory: a desk over ``data`` (the sample by default) on day ``today``."""
    return ClinicDesk(data, today)


def _open_session(config: dict[str, Any], directory: Path | None, data: str | None) -> ClinicDesk:
    """A session's desk: ``directory/clinic.json``, created on first use and reopened on resume."""
    path = Path(directory) / "clinic.json" if directory is not None else None
    if path is not None and path.exists():
        saved = json.loads(path.read_text())
        desk = ClinicDesk(saved["data"], saved["today"], path)
        desk.applied = dict(saved.get("applied", {}))
        return desk
    start = json.loads(Path(data).read_text()) if data is not None else None
    desk = ClinicDesk(start, str(config.get("today", TODAY)), path)
    desk._save()
    return desk


load_clinic.tool_names = ClinicDesk.TOOL_NAMES  # type: ignore[attr-defined]
load_clinic.identifier_kinds = ("patient", "appointment", "slot", "phone")  # type: ignore[attr-defined]
load_clinic.open_session = _open_session  # type: ignore[attr-defined]
