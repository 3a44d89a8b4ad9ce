"""The same conversation through every backend, against the in-process llama.cpp reference."""
import socket
import subprocess
import sys
import time

import httpx
import pytest

from agentspec.errors import EndpointError
from agentspec.runtime.openai import OpenAIChatModel
from tests.real.conftest import GREEDY, SAMPLED

MSGS = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(llama_model, tmp_path_factory):
    """llama-cpp-python's own OpenAI-compatible server, serving the same GGUF on 127.0.0.1."""
    port = _free_port()
    # Its load log is ~200 kB: a file, not a pipe that nobody drains (a full pipe blocks the server).
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(llama_model.path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", str(llama_model.n_threads),
         "--seed", "0", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"server exited: {log.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("server did not start in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_openai_backend_matches_in_process(server, llama_model):
    """Greedy and seeded replies over HTTP equal the in-process ones.

    The server keeps a KV cache across requests like the in-process model does, so both replay the
    same sequence of requests from an empty cache: then their caches, and their floats, agree.
    """
    remote = OpenAIChatModel("smollm2", base_url=server)
    llama_model.llm.reset()
    for settings in (GREEDY, SAMPLED, SAMPLED.with_(seed=7)):
        local = llama_model.complete(MSGS, settings)
        reply = remote.complete(MSGS, settings)
        assert reply.text == local.text and reply.text.strip()
        assert reply.usage.completion_tokens == local.usage.completion_tokens
    local = llama_model.complete(MSGS, GREEDY)
    streamed = "".join(remote.stream(MSGS, GREEDY))
    assert streamed == local.text


def test_unreachable_endpoint_is_a_clear_error():
    model = OpenAIChatModel("x", base_url=f"http://127.0.0.1:{_free_port()}/v1")
    with pytest.raises(EndpointError) as err:
        model.complete(MSGS)
    assert "Cannot reach" in str(err.value) and "Hint:" in str(err.value)


def test_transformers_backend_streams_and_caches(hf_model, llama_model):
    first = hf_model.complete(MSGS, GREEDY)
    assert "paris" in first.text.lower()
    assert "".join(hf_model.stream(MSGS, GREEDY)) == first.text
    turn2 = MSGS + [{"role": "assistant", "content": first.text}, {"role": "user", "content": "And of Italy?"}]
    warm = hf_model.complete(turn2, GREEDY)
    assert warm.usage.cached_tokens >= first.usage.prompt_tokens
    hf_model._kv, hf_model._kv_ids = None, []
    fresh = hf_model.complete(turn2, GREEDY)
    assert fresh.usage.cached_tokens == 0 and fresh.text == warm.text
    # Same weights, same template: the greedy reply agrees with llama.cpp's on its first words.
    llama_model.llm.reset()
    local = llama_model.complete(MSGS, GREEDY)
    assert local.text.split()[:3] == first.text.split()[:3]


def test_transformers_seeded_sampling_repeatable(hf_model):
    a = hf_model.complete(MSGS, SAMPLED).text
    b = hf_model.complete(MSGS, SAMPLED).text
    assert a == b and a.strip()


def test_an_llm_user_on_an_openai_compatible_server_plays_a_tau_suite(server, shared_data, tmp_path):
    """`eval tau --user llm --user-backend openai --user-base-url URL`: the simulated customer is a model
    behind any OpenAI-compatible server (here llama-cpp-python's); the oracle agent keeps it cheap."""
    import json

    from click.testing import CliRunner

    from agentspec.cli import cli

    db = shared_data / "tau2-retail" / "db.json"
    runner = CliRunner()
    made = runner.invoke(cli, ["eval", "generate", "--db", str(db), "--out", str(tmp_path / "suite"), "--n", "4"])
    assert made.exit_code == 0, made.output
    run = runner.invoke(cli, ["eval", "tau", str(tmp_path / "suite" / "tasks.json"), "--db", str(db), "--agent",
                              "oracle", "--user", "llm", "--user-backend", "openai", "--user-base-url", server,
                              "--user-model", "smollm2", "--limit", "1", "--max-turns", "3", "--out",
                              str(tmp_path / "run"), "--no-progress", "--json"])
    assert run.exit_code == 0, run.output
    (episode,) = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    users = [m["content"] for m in episode["messages"] if m["role"] == "user"]
    assert len(users) >= 2 and all(isinstance(u, str) for u in users)  # the model answered the agent
    wrong = runner.invoke(cli, ["eval", "tau", str(tmp_path / "suite" / "tasks.json"), "--db", str(db),
                                "--user-base-url", server, "--out", str(tmp_path / "run2")])
    assert wrong.exit_code == 2 and "--user-base-url is for --user llm --user-backend openai" in wrong.output
