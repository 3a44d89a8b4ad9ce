"""The clinic desk registers the way any toolkit does: an entry point whose factory carries ``tool_names``,
``identifier_kinds`` and ``open_session``. A spec file naming it validates, and a saved session keeps the
desk's writes and the conversation across a restart.

The desk is a test fixture, not an installed package: its entry point is added to the
``agentspec.toolkits`` group for the test only (``installed``).
"""
from __future__ import annotations

import importlib.metadata
import json

import pytest
import yaml

import agentspec.toolkit
from agentspec.graph import AgentSession
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import check_spec
from agentspec.toolkit import ENTRY_POINT_GROUP, available_toolkits

from clinic_reader import ClinicReader
from clinic_spec import call, clinic_data, reply

CLINIC = importlib.metadata.EntryPoint(name="clinic", value="clinic_desk:load_clinic", group=ENTRY_POINT_GROUP)


@pytest.fixture
def installed(monkeypatch):
    """The clinic's entry point, next to the installed ones (agentspec.toolkit and agentspec.spec look there)."""
    real = importlib.metadata.entry_points

    def entry_points(**params):
        found = real(**params)
        if params.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints([*found, CLINIC])
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(agentspec.toolkit, "entry_points", entry_points)


@pytest.fixture
def spec_file(tmp_path):
    """The clinic spec as a YAML file, with a reader folder whose ``reader.json`` names the clinic's heads."""
    reader = tmp_path / "reader"
    reader.mkdir()
    heads = {"requests": {"labels": ["cancel_visit", "move_visit", "when_visit"]}, "answer": {"labels": ["yes", "no", "other"]},
             "tags": {"labels": ["O", "B-medecin", "I-medecin"]},
             "choice.motif": {"labels": ["feeling better", "scheduling conflict", "none"]}}
    (reader / "reader.json").write_text(json.dumps({"heads": heads}))
    data = clinic_data()
    data["understanding"]["reader"] = "reader"
    data["policy"]["targets"] = {"writes": ["appointment"], "lookups": ["patient"]}
    path = tmp_path / "clinic.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def test_a_clinic_spec_file_validates_against_the_desks_declared_tools_and_kinds(installed, spec_file):
    assert "clinic" in available_toolkits()
    spec, problems = check_spec(spec_file)
    assert problems == [] and spec is not None
    # A typo in the policy is caught from the factory's declarations, without building a desk.
    data = yaml.safe_load(spec_file.read_text())
    data["policy"]["confirmation"]["tools"].append("cancel_appointement")
    data["policy"]["targets"]["writes"].append("order")
    spec_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    _, problems = check_spec(spec_file)
    assert [p.path for p in problems] == ["policy.confirmation.tools[2]", "policy.targets.writes[1]"]


def test_a_saved_session_reopens_its_own_desk_with_the_writes_it_made(installed, spec_file):
    spec, _ = check_spec(spec_file)
    model = ScriptedChatModel(context_length=8192)
    model.enqueue(call("find_patient_by_phone", phone="06 12 34 56 78"), call("get_patient", patient_id="P-00042"),
                  call("cancel_appointment", appointment_id="APT-1234", reason="feeling better"))
    with AgentSession(spec, name="camille", model=model, reader=ClinicReader()) as s:
        desk = s.deps.toolkits["cancel_appointment"]
        assert desk.path == s.dir / "clinic.json"
        s.send("06 12 34 56 78 : je voudrais annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        assert s.send("oui").reply.endswith("est annulé ; le créneau est libéré.")
    model.enqueue(reply("Il vous reste le rendez-vous avec le Dr Martin."))
    with AgentSession(spec, name="camille", model=model, reader=ClinicReader()) as again:
        desk = again.deps.toolkits["get_patient"]
        assert desk.data["appointments"]["APT-1234"]["status"] == "cancelled"
        assert again.state["user_id"] == "P-00042"  # the conversation resumed too: no new authentication
        assert again.send("Quels rendez-vous me reste-t-il ?").reply == "Il vous reste le rendez-vous avec le Dr Martin."
