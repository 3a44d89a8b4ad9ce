"""Agent specs: found by name or path, every problem reported with its field path, `agentspec validate`."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.spec import SpecError, check_spec, find_spec, load_spec, packaged_specs


def packaged() -> dict:
    """The packaged retail spec's data, its adapter and reader paths made absolute (copies live elsewhere)."""
    path = find_spec("retail")
    data = yaml.safe_load(path.read_text())
    for adapter in data.get("adapters", []):
        adapter["path"] = str(path.parent / adapter["path"])
    data["understanding"]["reader"] = str(path.parent / data["understanding"]["reader"])
    return data


def write(tmp_path: Path, data: dict, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_spec_is_packaged_and_found_by_name():
    assert "retail" in packaged_specs()
    spec = load_spec()  # no name: the default
    assert spec.name == "retail" and spec.source.endswith("specs/retail.yaml")
    assert "cancel_pending_order" in spec.policy.confirmation.tools
    assert set(spec.policy.authentication.tools) == {"find_user_id_by_email", "find_user_id_by_name_zip"}


def test_spec_found_by_path_resolves_relative_files(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "mine.j2").write_text("Be brief. {{ tools }}")
    data = packaged()
    data["prompts"] = {"system": "prompts/mine.j2"}
    spec = load_spec(str(write(tmp_path, data)))
    from agentspec.spec import find_template

    assert find_template(spec) == "Be brief. {{ tools }}"


def test_every_problem_is_reported_with_its_field_path(tmp_path):
    data = packaged()
    data["model"]["n_ctx"] = "big"
    data["model"]["temprature"] = 0.3
    data["policy"]["authentication"]["required_by"].append("refund_everything")
    data["limits"]["max_steps_per_turn"] = 0
    problems = check_spec(str(write(tmp_path, data)))[1]
    paths = {p.path for p in problems}
    assert {"model.n_ctx", "model.temprature", "limits.max_steps_per_turn"} <= paths
    # Semantic problems need a structurally valid spec: fix the structure, keep the semantic errors.
    data = packaged()
    data["policy"]["authentication"]["required_by"].append("refund_everything")
    data["policy"]["handoff"]["tool"] = "call_manager"
    data["adapters"] = [{"name": "retail-lora", "path": "adapters/retail.gguf", "scale": 0.5}]
    data["toolkits"][0]["config"] = {"db": "missing/db.json", "colour": "red"}
    data["prompts"] = {"system": "nope.j2"}
    spec, problems = check_spec(str(write(tmp_path, data, "semantic.yaml")))
    by_path = {p.path: p.message for p in problems}
    assert by_path["policy.authentication.required_by[12]"] == "unknown tool 'refund_everything'"
    assert "policy.handoff.tool" in by_path
    assert by_path["adapters[0].path"].startswith("adapter file not found")
    assert "toolkits[0].config.db" in by_path and "toolkits[0].config.colour" in by_path
    assert "prompts.system" in by_path
    with pytest.raises(SpecError) as err:
        load_spec(str(tmp_path / "semantic.yaml"))
    assert len(err.value.problems) == len(problems) >= 6


def test_validate_cli_lists_errors_and_exits_2(tmp_path):
    data = packaged()
    data["model"]["backend"] = "magic"
    data["limits"]["context_budget"] = 10
    data["toolkits"] = [{"name": "nonesuch"}]
    path = write(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "model.backend" in result.output and "limits.context_budget" in result.output
    ok = CliRunner().invoke(cli, ["validate", "retail"])
    assert ok.exit_code == 0 and "OK" in ok.output
    unknown = CliRunner().invoke(cli, ["validate", "no-such-spec"])
    assert unknown.exit_code == 2 and "no spec file 'no-such-spec'" in unknown.output


def test_unknown_toolkit_is_a_semantic_error(tmp_path):
    data = packaged()
    data["toolkits"] = [{"name": "nonesuch"}]
    problems = check_spec(str(write(tmp_path, data)))[1]
    assert [p.path for p in problems] == ["toolkits[0].name"]


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodel: [unclosed\n")
    problems = check_spec(str(path))[1]
    assert "line" in problems[0].message


def test_retail_base_extends_retail_without_adapters_or_the_graphs_learned_steps():
    base, retail = load_spec("retail-base"), load_spec("retail")
    assert base.name == "retail-base" and base.adapters == []
    assert base.limits == retail.limits and base.model == retail.model and base.messages == retail.messages
    # The guard is the same (who may call what, what needs a yes, which targets the user named) ...
    assert base.policy.authentication == retail.policy.authentication
    assert base.policy.targets.writes == retail.policy.targets.writes
    assert base.policy.targets.lookups == retail.policy.targets.lookups
    assert base.policy.confirmation.tools == retail.policy.confirmation.tools
    # ... but the graph takes no step of its own, and an empty mapping clears the request scope.
    assert not (base.policy.confirmation.determine or base.policy.handoff.determine
                or base.policy.act_on_requests or base.policy.ask_for_request or base.policy.targets.said)
    assert retail.understanding.requests and base.understanding.requests == {}
    # The reader still reads yes/no: the parent's relative reader folder is kept.
    assert base.resolve_path(base.understanding.reader) == retail.resolve_path(retail.understanding.reader)


def test_extends_merges_mappings_replaces_lists_and_keeps_the_parents_relative_paths(tmp_path):
    parent_dir = tmp_path / "parent"
    parent_dir.mkdir()
    (parent_dir / "expert.gguf").write_bytes(b"GGUF")
    data = packaged()
    data["adapters"] = [{"name": "expert", "path": "expert.gguf"}]
    write(parent_dir, data, "base.yaml")
    child = write(tmp_path, {"extends": "parent/base.yaml", "name": "child", "limits": {"max_steps_per_turn": 3},
                             "policy": {"confirmation": {"tools": ["cancel_pending_order"]}}})
    spec = load_spec(str(child))
    assert spec.name == "child" and spec.limits.max_steps_per_turn == 3
    assert spec.limits.keep_observations == packaged()["limits"]["keep_observations"]  # merged, not replaced
    assert spec.policy.confirmation.tools == ["cancel_pending_order"]  # a list replaces the parent's
    assert spec.policy.confirmation.report is True  # ... inside a block that merges key by key
    assert spec.resolve_path(spec.adapters[0].path) == (parent_dir / "expert.gguf").resolve()


def test_extends_errors_name_the_field(tmp_path):
    write(tmp_path, {"extends": "b.yaml", "name": "a"}, "a.yaml")
    write(tmp_path, {"extends": "a.yaml", "name": "b"}, "b.yaml")
    _, problems = check_spec(str(tmp_path / "a.yaml"))
    assert [p.path for p in problems] == ["extends"] and "cycle" in problems[0].message
    _, problems = check_spec(str(write(tmp_path, {"extends": "nowhere", "name": "c"}, "c.yaml")))
    assert [p.path for p in problems] == ["extends"] and "nowhere" in problems[0].message


def test_a_kind_only_the_words_give_must_be_a_followed_write_kind(tmp_path):
    policy = {"targets": {"writes": ["order"], "said": ["item"]}}
    _, problems = check_spec(str(write(tmp_path, {"extends": "retail", "name": "s", "policy": policy}, "s.yaml")))
    assert [p.path for p in problems] == ["policy.targets.said[0]"]
    assert "'item' is not in policy.targets.writes" in problems[0].message


def test_target_kinds_must_be_the_toolkits_identifier_kinds(tmp_path):
    policy = {"targets": {"writes": ["order", "orders"], "lookups": ["product", "sku"], "said": []}}
    _, problems = check_spec(str(write(tmp_path, {"extends": "retail", "name": "k", "policy": policy}, "k.yaml")))
    assert [p.path for p in problems] == ["policy.targets.writes[1]", "policy.targets.lookups[1]"]
    assert "unknown identifier kind 'orders'" in problems[0].message and "payment_method" in problems[0].message


def test_every_sentence_the_policy_makes_the_graph_say_is_required(tmp_path):
    data = packaged()
    data["messages"] = {"confirm": "{statement} OK? {amount}"}
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data)))[1]}
    # stopped always; the rest because the policy confirms, reports, hands off and asks for requests.
    assert {"messages.stopped", "messages.statement", "messages.cannot", "messages.declined", "messages.reported",
            "messages.handoff", "messages.handoff_summary", "messages.request_question"} <= set(by_path)
    assert "identity_request" not in " ".join(by_path)  # optional: the model's reply stands without it
    assert "amount" in by_path["messages.confirm"] and "{statement}" in by_path["messages.confirm"]
    bare = {"name": "bare", "toolkits": [{"name": "retail"}], "prompts": {"system": "retail_system.j2"}, "messages": {}}
    assert [p.path for p in check_spec(str(write(tmp_path, bare, "bare.yaml")))[1]] == ["messages.stopped"]
    bare["messages"] = {"stopped": "Say again?"}
    assert check_spec(str(write(tmp_path, bare, "bare.yaml")))[1] == []


def test_understanding_must_name_what_the_trained_reader_knows(tmp_path):
    data = packaged()
    data["understanding"]["requests"]["teleport"] = ["cancel_pending_order"]
    data["understanding"]["requests"]["cancel"] = ["cancel_everything"]
    data["understanding"]["choices"] = {"reason": "mood"}
    data["understanding"]["slots"] = {"address1": "street"}
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data)))[1]}
    assert set(by_path) == {"understanding.requests.teleport", "understanding.requests.cancel[0]",
                            "understanding.choices.reason", "understanding.slots.address1"}
    assert "cancel" in by_path["understanding.requests.teleport"]  # the message lists what the reader knows
    assert "reason" in by_path["understanding.choices.reason"] and "zip" in by_path["understanding.slots.address1"]
    data = packaged()
    data["understanding"]["reader"] = str(tmp_path / "no-reader")
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data)))[1]}
    assert list(by_path) == ["understanding.reader"] and "not a trained reader" in by_path["understanding.reader"]
    # Policies that read requests need a reader at all.
    data = packaged()
    del data["understanding"]
    assert [p.path for p in check_spec(str(write(tmp_path, data)))[1]] == ["understanding"]


def test_what_words_may_keep_needs_the_readers_head_and_a_valid_sentence(tmp_path):
    data = packaged()
    data["memory"]["remember_said"] = "wishes"
    data["messages"]["remembered"] = "Kept: {memory} for {user}"
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data)))[1]}
    assert set(by_path) == {"memory.remember_said", "messages.remembered"}
    assert "no choice head 'wishes'" in by_path["memory.remember_said"] and "user" in by_path["messages.remembered"]
    data["memory"]["remember_said"], data["messages"]["remembered"] = "remember", "Kept: {memory}"
    assert check_spec(str(write(tmp_path, data)))[1] == []


def test_adapters_reach_the_backend_or_fail_loudly(tmp_path, monkeypatch):
    from agentspec.errors import AgentSpecError
    from agentspec.runtime import registry
    from agentspec.spec import load_model

    (tmp_path / "expert.gguf").write_bytes(b"GGUF")
    data = packaged()
    data["adapters"] = [{"name": "expert", "path": "expert.gguf", "scale": 0.5}]
    spec = load_spec(str(write(tmp_path, data)))
    seen = {}
    monkeypatch.setattr(registry, "load_model", lambda backend, name, **options: seen.update(options) or "model")
    assert load_model(spec) == "model"
    assert seen["adapters"] == [{"name": "expert", "path": str(tmp_path / "expert.gguf"), "scale": 0.5}]
    openai = spec.model_copy(update={"model": spec.model.model_copy(update={"backend": "openai"})})
    with pytest.raises(AgentSpecError, match="cannot apply"):
        load_model(openai)


def test_memory_and_retrieval_blocks_are_validated(tmp_path):
    data = packaged()
    data["memory"] = {"recall": 0, "header": ""}
    data["retrieval"] = {"top_k": 3, "header": "Docs:", "documents": ["faq-missing.md"], "colour": "red"}
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data, "knowledge.yaml")))[1]}
    assert {"memory.recall", "memory.header", "retrieval.colour"} <= set(by_path)
    data["memory"] = {"header": "Remembered:"}
    data["retrieval"] = {"header": "Docs:", "documents": ["faq-missing.md"]}
    by_path = {p.path: p.message for p in check_spec(str(write(tmp_path, data, "knowledge.yaml")))[1]}
    assert by_path["retrieval.documents.0"].startswith("no such file") and "faq-missing.md" in by_path["retrieval.documents.0"]
    (tmp_path / "faq-missing.md").write_text("# FAQ\n")
    assert check_spec(str(tmp_path / "knowledge.yaml"))[1] == []
