import struct

import pytest

from agentspec.errors import AgentSpecError, ModelFileError, UnknownBackendError, UnknownModelError
from agentspec.runtime.models import check_gguf, resolve_model
from agentspec.runtime.registry import load_model
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.runtime.template import ChatTemplate, packaged_template
from agentspec.settings import RuntimeSettings


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError) as err:
        resolve_model(str(tmp_path / "nope.gguf"))
    assert "not found" in str(err.value) and "Hint:" in str(err.value)


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        check_gguf(bad)


def test_truncated_gguf(tmp_path):
    bad = tmp_path / "trunc.gguf"
    # Valid magic and version, then a tensor count that promises data which is not there.
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 10) + struct.pack("<Q", 5) + b"\x01")
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        check_gguf(bad)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="directory"):
        check_gguf(tmp_path)


def test_unknown_model_name():
    with pytest.raises(UnknownModelError) as err:
        resolve_model("gpt-17-turbo")
    assert "smollm2-135m" in str(err.value)


def test_unknown_backend():
    with pytest.raises(UnknownBackendError) as err:
        load_model("tensorrt")
    assert "llamacpp" in str(err.value)


def test_unknown_option_is_an_error():
    with pytest.raises(AgentSpecError, match="does not take"):
        load_model("scripted", n_gpu_layerz=3)


def test_registry_builds_scripted():
    model = load_model("scripted", replies=["hi"])
    assert isinstance(model, ScriptedChatModel)
    assert model.complete([{"role": "user", "content": "x"}]).text == "hi"


def test_settings_reject_option_of_another_backend():
    with pytest.raises(AgentSpecError, match="base-url"):
        RuntimeSettings(backend="llamacpp", base_url="http://x").load()


def test_settings_reject_unknown_field():
    with pytest.raises(Exception):
        RuntimeSettings(modle="x")


def test_gemma_template_renders_turns():
    t = ChatTemplate(packaged_template("gemma3.chat.j2"), bos_token="<bos>")
    text = t.render([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ])
    assert text == (
        "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n"
        "<start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_template_raise_exception_is_a_clear_error():
    t = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(ValueError, match="roles must alternate"):
        t.render([])
