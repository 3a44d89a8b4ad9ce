"""The agent graph, unchanged, runs a clinic's appointment desk: a second domain, in French, with its own ids.

Nothing here touches the retail toolkit or the retail spec: the desk (``clinic_desk``) reaches the core
only through ``functions()`` and its hooks, the spec (``clinic_spec``) holds every sentence the graph
says, and the reader (``clinic_reader``) knows the clinic's requests and words. The model is scripted.
"""
from __future__ import annotations

import pytest

from agentspec.decoding.schema import grounded_parameters
from agentspec.graph import AgentSession
from agentspec.graph.narrowing import narrowed
from agentspec.runtime.scripted import ScriptedChatModel

from clinic_desk import ClinicDesk
from clinic_reader import ClinicReader
from clinic_spec import MESSAGES, call, clinic_spec, reply

PHONE = "06 12 34 56 78"
HELLO = f"Bonjour, c'est Camille Durand, mon numéro est le {PHONE}."
CANCEL_LEE = call("cancel_appointment", appointment_id="APT-1234", reason="feeling better")


@pytest.fixture
def desk() -> ClinicDesk:
    return ClinicDesk()


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel(context_length=8192)


def session(desk: ClinicDesk, model: ScriptedChatModel, **changes) -> AgentSession:
    return AgentSession(clinic_spec(**changes), model=model, toolkits={"clinic": desk}, reader=ClinicReader())


def verified(s: AgentSession, model: ScriptedChatModel) -> None:
    """Camille gives her phone number; the model looks her up and reads her file."""
    model.enqueue(call("find_patient_by_phone", phone=PHONE), call("get_patient", patient_id="P-00042"),
                  reply("Bonjour Camille, que puis-je faire pour vous ?"))
    turn = s.send(HELLO)
    assert [(c["name"], c["outcome"]) for c in turn.tool_calls] == [("find_patient_by_phone", "ok"),
                                                                     ("get_patient", "ok")]
    assert s.state["user_id"] == "P-00042"


def guard_rows(turn) -> list[tuple[str, str]]:
    return [(e["outcome"], e["output"]) for e in turn.entries if e["kind"] == "guard"]


# (1) authentication first ------------------------------------------------------------------------

def test_nothing_but_the_phone_lookup_is_offered_before_the_patient_is_known(desk, model):
    model.enqueue(call("get_patient", patient_id="P-00042"),  # not offered: not even in the grammar
                  call("find_patient_by_phone", phone=PHONE),  # no phone was given yet: not grounded
                  reply("Bien sûr, voici vos rendez-vous."))
    with session(desk, model) as s:
        before = desk.snapshot()
        turn = s.send("Bonjour, je voudrais voir mes rendez-vous.")
        (decide,) = [e for e in turn.entries if e["kind"] == "decide"]
        assert decide["tools_offered"] == ["find_patient_by_phone"]
        assert decide["errors"] == ["unknown_tool", "ungrounded_identifier"]
        system = model.calls[0]["messages"][0]["content"]
        assert "find_patient_by_phone" in system and "get_patient" not in system and "Aucun patient" in system
        # The model's reply gives way to the spec's own question: nothing to authenticate with was given.
        assert turn.reply == MESSAGES["identity_request"]
        assert turn.tool_calls == [] and s.state.get("user_id") is None and desk.snapshot() == before


def test_the_phone_in_the_patients_words_is_looked_up_first_and_identifies_her(desk, model):
    with session(desk, model) as s:
        model.enqueue(reply("Merci !"))
        assert s.send("Bonjour !").reply == MESSAGES["identity_request"]
        # act_on_identity: with a phone number given, the turn starts with the lookup, not with words.
        model.enqueue(reply("Merci, je regarde."), call("find_patient_by_phone", phone=PHONE),
                      call("get_patient", patient_id="P-00042"), reply("Vous avez deux rendez-vous à venir."))
        turn = s.send(f"C'est le {PHONE}.")
        decides = [e for e in turn.entries if e["kind"] == "decide"]
        assert decides[0]["errors"] == ["reply_not_allowed"]
        assert [c["observation"] for c in turn.tool_calls][0] == "P-00042"
        assert turn.reply == "Vous avez deux rendez-vous à venir."
        assert s.state["user_id"] == "P-00042"
        # Her file was read with the desk's shapes: visits are appointments, their `slot` are slots.
        grounding = s.state["grounding"]
        assert grounding["phone"] == [PHONE] and grounding["patient"] == ["P-00042"]
        assert grounding["appointment"] == ["APT-0901", "APT-1234", "APT-1300"]
        assert grounding["slot"] == ["SLOT-0830-DRNGUYEN", "SLOT-0915-DRLEE", "SLOT-1400-DRMARTIN"]
        # Once she is known, every tool but the lookup is offered (no request is open yet).
        assert decides[-1]["tools_offered"] == [t for t in desk.TOOL_NAMES if t != "find_patient_by_phone"]


def test_a_phone_nobody_has_is_the_desks_error_and_nobody_is_authenticated(desk, model):
    model.enqueue(call("find_patient_by_phone", phone="07 00 00 00 00"), reply("Ce numéro est inconnu."))
    with session(desk, model) as s:
        turn = s.send("Mon numéro : 07 00 00 00 00")
        assert [(c["outcome"], c["observation"]) for c in turn.tool_calls] == [
            ("error", "Error: aucun patient n'a le numéro 07 00 00 00 00")]
        assert s.state.get("user_id") is None


# (2) confirmation ----------------------------------------------------------------------------------

def test_a_cancel_is_stated_in_the_desks_words_and_runs_only_on_a_yes(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(CANCEL_LEE)
        turn = s.send("Je voudrais annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        # The desk's sentence (describe hook) inside the spec's question (messages.confirm).
        assert turn.reply == ("J'annule votre rendez-vous APT-1234 avec Dr Lee le 20/03/2030 à 09:15 (motif : vous "
                              "allez mieux). Je confirme ? (oui/non)")
        assert turn.tool_calls == [] and desk.snapshot() == before
        assert s.state["pending"]["calls"] == [{"name": "cancel_appointment",
                                                "arguments": {"appointment_id": "APT-1234", "reason": "feeling better"}}]
        asked = len(model.calls)

        done = s.send("Oui, allez-y.")
        assert [(c["name"], c["arguments"]) for c in done.tool_calls] == [
            ("cancel_appointment", {"appointment_id": "APT-1234", "reason": "feeling better"})]
        # The desk's report (from its state), said by the graph; the model was not asked.
        assert done.reply == "Votre rendez-vous APT-1234 avec Dr Lee du 20/03/2030 à 09:15 est annulé ; le créneau est libéré."
        assert len(model.calls) == asked
        expected = before
        expected["appointments"]["APT-1234"].update(status="cancelled", reason="feeling better")
        expected["slots"]["SLOT-0915-DRLEE"]["taken_by"] = None
        assert desk.snapshot() == expected
        assert s.state["pending"] is None and s.state["open_requests"] == []


def test_a_move_to_a_listed_free_slot_is_stated_then_done(desk, model):
    move = call("move_appointment", appointment_id="APT-1300", slot_id="SLOT-1600-DRMARTIN")
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(call("list_slots", doctor="Dr Martin"), move)
        turn = s.send("Pouvez-vous déplacer mon rendez-vous avec le Dr Martin ?")
        # The free slots came back under the desk's `free` key: grounded as slots, so the move could name one.
        assert "SLOT-1600-DRMARTIN" in s.state["grounding"]["slot"]
        assert turn.reply == ("Je déplace votre rendez-vous APT-1300 avec Dr Martin du 21/03/2030 à 14:00 au "
                              "21/03/2030 à 16:00 avec Dr Martin. Je confirme ? (oui/non)")
        assert desk.snapshot() == before
        done = s.send("oui")
        assert [c["name"] for c in done.tool_calls] == ["move_appointment"]
        assert done.reply == "Votre rendez-vous APT-1300 est maintenant le 21/03/2030 à 16:00 avec Dr Martin."
        assert desk.data["slots"]["SLOT-1600-DRMARTIN"]["taken_by"] == "APT-1300"
        assert desk.data["slots"]["SLOT-1400-DRMARTIN"]["taken_by"] is None


# (3) ownership -------------------------------------------------------------------------------------

def test_another_patients_appointment_and_file_are_refused(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(call("cancel_appointment", appointment_id="APT-2002", reason="feeling better"),
                      reply("Ce rendez-vous n'est pas à votre nom, je ne peux pas l'annuler."))
        turn = s.send("Annulez aussi le rendez-vous APT-2002, je vais mieux.")
        assert [outcome for outcome, _ in guard_rows(turn)] == ["refused: other_user"]
        assert "P-00042" in guard_rows(turn)[0][1]
        assert turn.reply == "Ce rendez-vous n'est pas à votre nom, je ne peux pas l'annuler."
        assert s.state["pending"] is None and desk.snapshot() == before
        assert model.calls[-1]["messages"][-1]["content"].startswith("Tool result of cancel_appointment: Error: policy:")

        model.enqueue(call("get_patient", patient_id="P-00077"), reply("Je ne peux pas ouvrir ce dossier."))
        turn = s.send("Et montrez-moi le dossier P-00077.")
        assert [outcome for outcome, _ in guard_rows(turn)] == ["refused: other_user"]
        assert turn.tool_calls == []


def test_a_model_that_keeps_at_another_patients_appointment_hears_no_sentence_of_the_core(desk, model):
    other = call("cancel_appointment", appointment_id="APT-2002", reason="feeling better")
    with session(desk, model) as s:
        verified(s, model)
        model.enqueue(other, other, other)
        turn = s.send("Annulez le rendez-vous APT-2002, je vais mieux.")
        assert [o for o, _ in guard_rows(turn)] == ["refused: other_user", "refused: repeat", "refused: repeat"]
        # Every sentence the user reads comes from the spec or the desk; the core holds none of its own.
        assert "another user" not in turn.reply and "conversation" not in turn.reply
        assert turn.reply == "Je ne peux m'occuper que du dossier de la personne identifiée (P-00042)."


# (4) the dry run -----------------------------------------------------------------------------------

PAST = "le rendez-vous APT-0901 du 10/03/2030 à 08:30 est passé : il ne peut plus être annulé"


def test_a_reply_saying_in_the_desks_words_that_a_cancel_is_done_is_taken_again_as_a_call(desk, model):
    # Nothing ran: "... est annulé" is the desk's report wording (its claims_done hook), so the model's
    # reply is decoded again as a call, which the guard states; the desk is untouched.
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(reply("Votre rendez-vous APT-1234 est annulé."), CANCEL_LEE)
        turn = s.send("Je voudrais annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        assert [e.get("claimed_write") for e in turn.entries if e["kind"] == "decide"] == [True]
        assert turn.reply.startswith("J'annule votre rendez-vous APT-1234") and desk.snapshot() == before


def test_a_past_appointments_cancel_is_refused_before_it_is_stated(desk, model):
    past = call("cancel_appointment", appointment_id="APT-0901", reason="scheduling conflict")
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(past, past, past)
        turn = s.send("Je voudrais annuler mon rendez-vous avec le Dr Nguyen, j'ai un empêchement.")
        # Never stated: the desk's dry run answered first, and the model read its reason.
        rows = guard_rows(turn)
        assert [outcome for outcome, _ in rows] == ["refused: precheck", "refused: repeat", "refused: repeat"]
        assert rows[0][1] == f"Error: {PAST}"
        assert f"Tool result of cancel_appointment: Error: {PAST}" in [m["content"] for m in model.calls[-1]["messages"]]
        # The model kept at it: the turn ends with the spec's sentence and the desk's reason.
        assert turn.reply == f"Je ne peux pas le faire : {PAST}. Puis-je faire autre chose pour vous ?"
        assert s.state["pending"] is None and desk.snapshot() == before
        assert s.state["open_requests"] == []  # the request it served is settled


def test_a_write_the_words_determine_and_the_desk_refuses_is_answered_without_the_model(desk, model):
    with session(desk, model, policy={"confirmation": {"determine": True}}) as s:
        verified(s, model)
        asked = len(model.calls)
        turn = s.send("Je voudrais annuler mon rendez-vous avec le Dr Nguyen, j'ai un empêchement.")
        # Appointment by the doctor's name (the mentions hook), reason by the reader's motif head: the
        # graph's own step, refused by the dry run before anything was stated.
        assert [(e["kind"], e["outcome"]) for e in turn.entries if e["kind"] == "graph"] == [
            ("graph", "refused"), ("graph", "cannot")]
        assert turn.reply == f"Je ne peux pas le faire : {PAST}. Puis-je faire autre chose pour vous ?"
        assert len(model.calls) == asked and s.state["pending"] is None


def test_a_taken_slot_is_refused_by_the_dry_run_and_the_model_reads_why(desk, model):
    taken = call("move_appointment", appointment_id="APT-1234", slot_id="SLOT-1100-DRLEE")
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(taken, reply("Ce créneau est déjà pris, voulez-vous un autre horaire ?"))
        turn = s.send("Déplacez mon rendez-vous avec le Dr Lee au créneau SLOT-1100-DRLEE.")
        # The slot belongs to nobody (no ownership refusal); the dry run says it is taken.
        assert guard_rows(turn) == [("refused: precheck",
                                     "Error: le créneau SLOT-1100-DRLEE (Dr Lee, 20/03/2030 à 11:00) est déjà pris")]
        assert turn.reply == "Ce créneau est déjà pris, voulez-vous un autre horaire ?"
        assert desk.snapshot() == before


# (5) the grammar: the clinic's ids, only those seen ----------------------------------------------------

def test_only_seen_appointment_ids_are_allowed_and_a_hallucinated_one_is_retried(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        model.enqueue(call("cancel_appointment", appointment_id="APT-9999", reason="feeling better"),  # never seen
                      call("cancel_appointment", appointment_id="SLOT-0915-DRLEE", reason="feeling better"),  # a slot
                      call("cancel_appointment", appointment_id="APT-1300", reason="feeling better"))
        turn = s.send("Je voudrais annuler un rendez-vous, je vais mieux.")
        (decide,) = [e for e in turn.entries if e["kind"] == "decide"]
        assert decide["errors"] == ["ungrounded_identifier", "ungrounded_identifier"]
        assert "'APT-9999' is not a appointment id seen" in decide["error_details"][0]
        assert "'SLOT-0915-DRLEE' is not a appointment id seen" in decide["error_details"][1]
        assert s.state["pending"]["calls"][0]["arguments"]["appointment_id"] == "APT-1300"
        # What a constrained decoder compiles: an enum of exactly the appointments her file showed.
        allowed = narrowed(s.state, s.deps)
        cancel = next(t for t in allowed.tools if t.name == "cancel_appointment")
        assert grounded_parameters(cancel, allowed.grounding)["properties"]["appointment_id"]["enum"] == [
            "APT-0901", "APT-1234", "APT-1300"]


def test_the_doctors_name_narrows_the_grammar_to_that_appointment(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        model.enqueue(call("cancel_appointment", appointment_id="APT-1300", reason="feeling better"), CANCEL_LEE)
        turn = s.send("Je voudrais annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        (decide,) = [e for e in turn.entries if e["kind"] == "decide"]
        assert decide["errors"] == ["excluded_identifier"]  # Dr Martin's appointment: not the one she named
        assert s.state["pending"]["calls"][0]["arguments"]["appointment_id"] == "APT-1234"


# (6) a plain no ---------------------------------------------------------------------------------------

def test_a_plain_no_settles_the_request_with_the_specs_sentence(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        before = desk.snapshot()
        model.enqueue(CANCEL_LEE)
        s.send("Je voudrais annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        assert s.state["open_requests"] == ["cancel_visit"]
        asked = len(model.calls)
        turn = s.send("Non.")
        assert turn.reply == MESSAGES["declined"]
        assert turn.tool_calls == [] and len(model.calls) == asked
        assert s.state["pending"] is None and s.state["open_requests"] == [] and desk.snapshot() == before
        # The next message starts afresh: the model answers it.
        model.enqueue(reply("Très bien. Bonne journée !"))
        assert s.send("Merci, ce sera tout.").reply == "Très bien. Bonne journée !"


# a write the words determine ----------------------------------------------------------------------------

def test_a_cancel_the_words_determine_is_stated_by_the_graph_itself(desk, model):
    with session(desk, model, policy={"confirmation": {"determine": True}}) as s:
        verified(s, model)
        asked = len(model.calls)
        turn = s.send("Je dois annuler mon rendez-vous avec le Dr Lee, je vais mieux.")
        assert turn.reply == ("J'annule votre rendez-vous APT-1234 avec Dr Lee le 20/03/2030 à 09:15 (motif : vous "
                              "allez mieux). Je confirme ? (oui/non)")
        assert len(model.calls) == asked  # the doctor's name and the reader's motif were all it took
        done = s.send("oui")
        assert done.reply.startswith("Votre rendez-vous APT-1234 avec Dr Lee") and len(model.calls) == asked


# a question answered from the desk's records ----------------------------------------------------------

def test_a_question_about_a_visit_is_answered_from_the_desk_without_the_model(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        asked = len(model.calls)
        turn = s.send("À quelle heure est mon rendez-vous avec le Dr Lee ?")
        assert [(c["name"], c["arguments"]) for c in turn.tool_calls] == [("get_appointment",
                                                                           {"appointment_id": "APT-1234"})]
        assert turn.reply == "Votre rendez-vous APT-1234 avec Dr Lee est prévu le 20/03/2030 à 09:15."
        assert len(model.calls) == asked and s.state["open_requests"] == []


def test_a_question_about_another_patients_visit_is_not_answered_by_the_graph(desk, model):
    with session(desk, model) as s:
        verified(s, model)
        model.enqueue(reply("Je ne peux consulter que vos rendez-vous."))
        turn = s.send("C'est quand le rendez-vous APT-2002 ?")  # Louis's visit with Dr Lee
        assert "get_appointment" not in [c["name"] for c in turn.tool_calls if c["outcome"] == "ok"]
        assert turn.reply == "Je ne peux consulter que vos rendez-vous."


# a write the desk cannot do as said: its words, and the choice it leaves ----------------------------

FOLLOWED = {"confirmation": {"determine": True}, "targets": {"writes": ["appointment", "slot"]}}


def test_a_move_to_a_taken_slot_is_answered_with_the_free_ones_and_the_request_waits(desk, model):
    with session(desk, model, policy=FOLLOWED) as s:
        verified(s, model)
        asked = len(model.calls)
        turn = s.send("Déplacez mon rendez-vous avec le Dr Lee au créneau SLOT-1100-DRLEE.")
        # The desk's explain hook: its own words, the free slot, and the move stays open for the answer.
        assert turn.reply == ("Le créneau du 20/03/2030 à 11:00 avec Dr Lee est déjà pris. Créneaux libres : le "
                              "20/03/2030 à 10:30 (SLOT-1030-DRLEE). Lequel vous convient ?")
        assert len(model.calls) == asked and s.state["open_requests"] == ["move_visit"]
        assert desk.data["slots"]["SLOT-1100-DRLEE"]["taken_by"] == "APT-2002"


def test_a_yes_to_the_one_free_slot_offered_after_a_refusal_takes_it(desk, model):
    with session(desk, model, policy=FOLLOWED) as s:
        verified(s, model)
        asked = len(model.calls)
        s.send("Déplacez mon rendez-vous avec le Dr Lee au créneau SLOT-1100-DRLEE.")
        # The refusal offered one free slot: "oui" says it; the graph states that move, not the refused one.
        turn = s.send("Oui, merci.")
        assert turn.reply.startswith("Je déplace votre rendez-vous APT-1234 avec Dr Lee")
        assert s.state["pending"]["calls"] == [{"name": "move_appointment",
                                                "arguments": {"appointment_id": "APT-1234", "slot_id": "SLOT-1030-DRLEE"}}]
        assert [e.get("took_offer") for e in turn.entries if e["kind"] == "answer"] == ["SLOT-1030-DRLEE"]
        assert len(model.calls) == asked
        s.send("Oui.")
        assert desk.data["appointments"]["APT-1234"]["slot_id"] == "SLOT-1030-DRLEE"


def test_a_plain_no_to_the_offer_takes_nothing_and_settles_the_request(desk, model):
    with session(desk, model, policy=FOLLOWED) as s:
        verified(s, model)
        s.send("Déplacez mon rendez-vous avec le Dr Lee au créneau SLOT-1100-DRLEE.")
        assert s.state["offered"] == "SLOT-1030-DRLEE"
        asked = len(model.calls)
        turn = s.send("Non merci.")
        assert turn.reply == MESSAGES["declined"] and len(model.calls) == asked
        assert s.state["open_requests"] == [] and not s.state.get("pending") and s.state["offered"] is None
        assert not [e for e in turn.entries if e.get("took_offer")]
        assert desk.data["appointments"]["APT-1234"]["slot_id"] == "SLOT-0915-DRLEE"


def test_a_move_whose_slot_is_not_said_is_asked_for_in_the_desks_words(desk, model):
    with session(desk, model, policy=FOLLOWED) as s:
        verified(s, model)
        model.enqueue(call("list_slots", doctor="Dr Lee"), reply("not reached"))
        turn = s.send("Je voudrais déplacer mon rendez-vous avec le Dr Lee.")
        # Every seen slot but the free one is refused by the dry run: the patient is asked, once.
        assert turn.reply == "Quel créneau vous convient : le 20/03/2030 à 10:30 (SLOT-1030-DRLEE) ?"
        assert [e["outcome"] for e in turn.entries if e["kind"] == "graph"] == ["choose"]
        assert s.send("SLOT-1030-DRLEE").reply.startswith("Je déplace votre rendez-vous APT-1234 avec Dr Lee")


def test_a_cancel_whose_appointment_only_the_patient_can_say_is_asked_for_and_never_guessed(desk, model):
    # policy.targets.said: which appointment is the patient's to say. The model is never offered the
    # cancel while her words name none; the desk asks, in its words, and her answer determines it.
    with session(desk, model, policy={**FOLLOWED, "targets": {**FOLLOWED["targets"], "said": ["appointment"]}}) as s:
        verified(s, model)
        asked = len(model.calls)
        turn = s.send("Je voudrais annuler un rendez-vous.")
        assert turn.reply == ("Quel rendez-vous souhaitez-vous annuler : le 20/03/2030 à 09:15 avec Dr Lee (APT-1234) "
                              "ou le 21/03/2030 à 14:00 avec Dr Martin (APT-1300) ?")
        assert len(model.calls) == asked and s.state["open_requests"] == ["cancel_visit"]
        answer = s.send("Celui avec le Dr Martin, j'ai un empêchement.")
        assert answer.reply.startswith("J'annule votre rendez-vous APT-1300 avec Dr Martin") and len(model.calls) == asked


def test_a_plain_yes_to_a_question_of_several_choices_hears_the_question_again(desk, model):
    with session(desk, model, policy={**FOLLOWED, "targets": {**FOLLOWED["targets"], "said": ["appointment"]}}) as s:
        verified(s, model)
        asked = len(model.calls)
        question = s.send("Je voudrais annuler un rendez-vous.").reply
        assert s.state["offered"] is None  # two appointments: nothing a yes could say
        again = s.send("Oui.")
        # Which one is still hers to say: the desk's question again, not the model's guess.
        assert again.reply == question and len(model.calls) == asked
        assert s.state["open_requests"] == ["cancel_visit"] and not s.state.get("pending")
