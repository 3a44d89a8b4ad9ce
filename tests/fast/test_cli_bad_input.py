"""Bad input at the command line: each is a clear error naming the thing and the fix, never a traceback."""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from agentspec.cli import cli
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.settings import RuntimeSettings

SPEC = """name: t
toolkits: [{name: retail}]
prompts: {system: system.j2}
messages: {stopped: Please say that again.}
"""


@pytest.fixture
def scripted(monkeypatch):
    model = ScriptedChatModel(name="fake", default_reply="ok")
    monkeypatch.setattr(RuntimeSettings, "load", lambda self: model)
    return model


def clear_error(result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = " ".join(result.output.split())  # rich wraps long lines
    for phrase in phrases:
        assert phrase in text, result.output


def test_a_line_that_is_not_utf8_is_refused_and_the_repl_goes_on(scripted):
    result = CliRunner().invoke(cli, ["chat", "--plain"], input=b"hi \xff there\nsecond\n")
    assert result.exit_code == 0, result.output
    assert "the input is not valid UTF-8 (byte 0xff at character 4)" in result.output
    assert [c["messages"][-1]["content"] for c in scripted.calls] == ["second"]  # only the good line was sent


def test_an_argument_that_is_not_utf8_is_refused(scripted):
    clear_error(CliRunner().invoke(cli, ["ask", "hi \udcff"]), "not valid UTF-8", "byte 0xff")
    assert scripted.calls == []


@pytest.mark.parametrize("flag, value, shown", [
    ("--n-ctx", "10", "x>=256"), ("--max-tokens", "0", "x>=1"), ("--max-tokens", "-5", "x>=1"),
    ("--threads", "0", "x>=1"), ("--temperature", "-0.5", "x>=0.0"), ("--top-p", "2", "0.0<x<=1.0"),
    ("--top-k", "-1", "x>=0"),
])
@pytest.mark.parametrize("command", [["ask", "hi"], ["chat", "--plain"], ["chat"]])
def test_out_of_range_settings_name_the_flag_and_the_range(scripted, command, flag, value, shown):
    result = CliRunner().invoke(cli, [*command, flag, value], input="hi\n")
    clear_error(result, f"Invalid value for '{flag}'", shown)
    assert scripted.calls == []


def test_in_range_settings_are_accepted(scripted):
    result = CliRunner().invoke(cli, ["ask", "hi", "--top-p", "1", "--temperature", "0", "--max-tokens", "1",
                                      "--threads", "1", "--n-ctx", "256"])
    assert result.exit_code == 0, result.output


def _spec(tmp_path, text: str = SPEC, template: str = "You help. {{ tools }}") -> str:
    (tmp_path / "system.j2").write_text(template)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def test_validate_accepts_a_good_spec(tmp_path):
    result = CliRunner().invoke(cli, ["validate", _spec(tmp_path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("template, phrase", [
    ("Hello {% if user_id %} no end", "the template does not compile"),
    ("Hello {{ tool }}", "the template does not render: 'tool' is undefined"),
])
def test_validate_catches_a_system_template_that_does_not_compile_or_render(tmp_path, template, phrase):
    clear_error(CliRunner().invoke(cli, ["validate", _spec(tmp_path, template=template)]), "prompts.system", phrase)


def test_validate_catches_a_model_file_that_does_not_exist(tmp_path):
    spec = _spec(tmp_path, SPEC + f"model: {{name: {tmp_path / 'gone.gguf'}}}\n")
    clear_error(CliRunner().invoke(cli, ["validate", spec]), "model.name", "model file not found")
    (tmp_path / "not.gguf").write_text("hello")
    spec = _spec(tmp_path, SPEC + f"model: {{name: {tmp_path / 'not.gguf'}}}\n")
    clear_error(CliRunner().invoke(cli, ["validate", spec]), "model.name", "not a GGUF file")


def test_validate_catches_a_chat_template_that_does_not_compile(tmp_path):
    spec = _spec(tmp_path, SPEC + "model: {chat_template: '{% for m in messages %}'}\n")
    clear_error(CliRunner().invoke(cli, ["validate", spec]), "model.chat_template", "does not compile")


@pytest.mark.parametrize("block", ["{top_p: 2}", "{max_tokens: 0}", "{temperature: -1}"])
def test_the_spec_generation_block_is_validated(tmp_path, block):
    spec = _spec(tmp_path, SPEC + f"generation: {block}\n")
    clear_error(CliRunner().invoke(cli, ["validate", spec]), "generation.")


def test_a_spec_file_with_a_non_utf8_byte_is_a_clear_error(tmp_path, scripted):
    path = tmp_path / "latin.yaml"
    path.write_bytes(SPEC.replace("name: t", "name: caf\xe9").encode("latin-1"))
    clear_error(CliRunner().invoke(cli, ["validate", str(path)]), "is not UTF-8 text: byte 0xe9 on line 1")
    clear_error(CliRunner().invoke(cli, ["chat", "--spec", str(path)], input="hi\n"), "not UTF-8")


def test_trace_refuses_a_name_outside_the_sessions_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    outside = home / "x"  # what sessions/../x would open
    outside.mkdir(parents=True)
    sqlite3.connect(outside / "checkpoints.sqlite").close()
    monkeypatch.setenv("AGENTSPEC_HOME", str(home))
    for name in ("../x", "../../x", "/etc", "a/b"):
        clear_error(CliRunner().invoke(cli, ["trace", name]), repr(name))
