"""The clinic desk on its own: what the core reads from it (tool schemas, outcomes, shapes, hooks)."""
from __future__ import annotations

from agentspec.decoding.grounding import Grounding
from agentspec.hooks import DomainHooks, merged_shapes
from agentspec.toolkit import Toolkit, ToolRegistry
from agentspec.tools.types import GROUNDED_KEY

from clinic_desk import ClinicDesk


def test_its_tools_are_typed_functions_whose_identifiers_are_marked_by_kind():
    desk = ClinicDesk()
    assert isinstance(desk, Toolkit) and isinstance(desk, DomainHooks)
    registry = ToolRegistry([desk])
    assert registry.names == list(desk.TOOL_NAMES)
    kinds = {tool.name: {a: s.get(GROUNDED_KEY) for a, s in tool.parameters["properties"].items()} for tool in registry}
    assert kinds == {"find_patient_by_phone": {"phone": "phone"}, "get_patient": {"patient_id": "patient"},
                     "get_appointment": {"appointment_id": "appointment"},
                     "list_slots": {"doctor": None},
                     "cancel_appointment": {"appointment_id": "appointment", "reason": None},
                     "move_appointment": {"appointment_id": "appointment", "slot_id": "slot"}}
    assert registry.get("cancel_appointment").parameters["properties"]["reason"]["enum"] == [
        "feeling better", "scheduling conflict"]


def test_the_registry_keeps_its_three_outcomes_apart():
    registry = ToolRegistry([ClinicDesk()])
    assert registry.call("find_patient_by_phone", {"phone": "0612345678"}).observation == "P-00042"
    refused = registry.call("cancel_appointment", {"appointment_id": "APT-0901", "reason": "feeling better"})
    assert refused.kind == "tool_error" and refused.observation.startswith("Error: le rendez-vous APT-0901")
    bad = registry.call("cancel_appointment", {"appointment_id": "APT-1234", "reason": "bored"})
    assert bad.kind == "invalid_arguments"


def test_its_shapes_ground_its_ids_from_words_and_from_its_own_json():
    desk = ClinicDesk()
    grounding = Grounding.from_shapes(merged_shapes([desk]))
    grounding.observe_text("Mon numéro est le 06 12 34 56 78, c'est pour APT-1234 (SLOT-0915-DRLEE).")
    grounding.observe_text(ToolRegistry([desk]).call("list_slots", {"doctor": "Dr Lee"}).observation)
    assert grounding.as_dict() == {"appointment": ["APT-1234"], "phone": ["06 12 34 56 78"],
                                   "slot": ["SLOT-0915-DRLEE", "SLOT-1030-DRLEE"]}


def test_its_hooks_answer_from_its_state():
    desk = ClinicDesk()
    assert desk.owners("cancel_appointment", {"appointment_id": "APT-2002"}) == {"P-00077"}
    assert desk.owners("move_appointment", {"appointment_id": "APT-1234", "slot_id": "SLOT-1100-DRLEE"}) == {"P-00042"}
    assert desk.check("move_appointment", {"appointment_id": "APT-1234", "slot_id": "SLOT-1030-DRLEE"}) is None
    assert desk.check("get_patient", {"patient_id": "P-00042"}) is None
    assert desk.data["slots"]["SLOT-1030-DRLEE"]["taken_by"] is None  # the dry run left the desk as it was
    seen = ["APT-0901", "APT-1234", "APT-1300", "APT-2002"]
    assert desk.mentions("appointment", ["celui avec le docteur Martin"], seen) == ["APT-1300"]
    assert desk.mentions("appointment", ["x"], seen, slots=[{"medecin": ["Dr Lee"]}]) == ["APT-1234", "APT-2002"]
    assert desk.mentions("slot", ["Dr Lee"], ["SLOT-1030-DRLEE"]) is None  # the generic rule's
