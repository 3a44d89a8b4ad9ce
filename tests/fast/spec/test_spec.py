"""Agent specs: found by name or path, every problem reported with its field path, `agentspec validate`."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.spec import SpecError, check_spec, find_spec, load_spec, packaged_specs


def packaged() -> dict:
    """The packaged retail spec's data, its adapter and classifier paths made absolute (copies live elsewhere)."""
    path = find_spec("retail")
    data = yaml.safe_load(path.read_text())
    for adapter in data.get("adapters", []):
        adapter["path"] = str(path.parent / adapter["path"])
    requests = data["routing"]["requests"]
    requests["classifier"] = str(path.parent / requests["classifier"])
    return data


def write(tmp_path: Path, data: dict, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_spec_is_packaged_and_found_by_name():
    assert "retail" in packaged_specs()
    spec = load_spec()  # no name: the default
    assert spec.name == "retail" and spec.source.endswith("specs/retail.yaml")
    assert "cancel_pending_order" in spec.policy.requires_confirmation
    assert set(spec.policy.auth_tools) == {"find_user_id_by_email", "find_user_id_by_name_zip"}


def test_spec_found_by_path_resolves_relative_files(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "mine.j2").write_text("Be brief. {{ tools }}")
    data = packaged()
    data["prompts"] = {"system": "prompts/mine.j2"}
    spec = load_spec(str(write(tmp_path, data)))
    from agentspec.graph.prompts import find_template

    assert find_template(spec) == "Be brief. {{ tools }}"


def test_every_problem_is_reported_with_its_field_path(tmp_path):
    data = packaged()
    data["model"]["n_ctx"] = "big"
    data["model"]["temprature"] = 0.3
    data["policy"]["requires_user"].append("refund_everything")
    data["limits"]["max_steps_per_turn"] = 0
    problems = check_spec(str(write(tmp_path, data)))[1]
    paths = {p.path for p in problems}
    assert {"model.n_ctx", "model.temprature", "limits.max_steps_per_turn"} <= paths
    # Semantic problems need a structurally valid spec: fix the structure, keep the semantic errors.
    data = packaged()
    data["policy"]["requires_user"].append("refund_everything")
    data["policy"]["handoff_tool"] = "call_manager"
    data["adapters"] = [{"name": "retail-lora", "path": "adapters/retail.gguf", "scale": 0.5}]
    data["toolkits"][0]["config"] = {"db": "missing/db.json", "colour": "red"}
    data["prompts"] = {"system": "nope.j2"}
    spec, problems = check_spec(str(write(tmp_path, data, "semantic.yaml")))
    by_path = {p.path: p.message for p in problems}
    assert by_path["policy.requires_user[12]"] == "unknown tool 'refund_everything'"
    assert "policy.handoff_tool" in by_path
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


def test_retail_base_extends_retail_without_adapters():
    base, retail = load_spec("retail-base"), load_spec("retail")
    assert base.name == "retail-base" and base.adapters == []
    assert base.policy == retail.policy and base.limits == retail.limits and base.model == retail.model


def test_extends_merges_mappings_replaces_lists_and_keeps_the_parents_relative_paths(tmp_path):
    parent_dir = tmp_path / "parent"
    parent_dir.mkdir()
    (parent_dir / "expert.gguf").write_bytes(b"GGUF")
    data = packaged()
    data["adapters"] = [{"name": "expert", "path": "expert.gguf"}]
    write(parent_dir, data, "base.yaml")
    child = write(tmp_path, {"extends": "parent/base.yaml", "name": "child", "limits": {"max_steps_per_turn": 3},
                             "policy": {"requires_confirmation": ["cancel_pending_order"]}})
    spec = load_spec(str(child))
    assert spec.name == "child" and spec.limits.max_steps_per_turn == 3
    assert spec.limits.keep_observations == packaged()["limits"]["keep_observations"]  # merged, not replaced
    assert spec.policy.requires_confirmation == ["cancel_pending_order"]  # a list replaces the parent's
    assert spec.resolve_path(spec.adapters[0].path) == (parent_dir / "expert.gguf").resolve()


def test_extends_errors_name_the_field(tmp_path):
    write(tmp_path, {"extends": "b.yaml", "name": "a"}, "a.yaml")
    write(tmp_path, {"extends": "a.yaml", "name": "b"}, "b.yaml")
    _, problems = check_spec(str(tmp_path / "a.yaml"))
    assert [p.path for p in problems] == ["extends"] and "cycle" in problems[0].message
    _, problems = check_spec(str(write(tmp_path, {"extends": "nowhere", "name": "c"}, "c.yaml")))
    assert [p.path for p in problems] == ["extends"] and "nowhere" in problems[0].message


def test_follow_named_kinds_must_be_the_toolkits_identifier_kinds(tmp_path):
    policy = {"writes_follow_named": ["order", "orders"], "lookups_follow_named": ["product", "sku"]}
    _, problems = check_spec(str(write(tmp_path, {"extends": "retail", "name": "k", "policy": policy}, "k.yaml")))
    assert [p.path for p in problems] == ["policy.writes_follow_named[1]", "policy.lookups_follow_named[1]"]
    assert "unknown identifier kind 'orders'" in problems[0].message and "payment_method" in problems[0].message


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
