import json
import os
import subprocess
import sys


def test_ask_json_on_the_bundled_model(real_home):
    env = {**os.environ, "AGENTSPEC_HOME": str(real_home)}
    out = subprocess.run(
        [sys.executable, "-m", "agentspec.cli", "ask", "Say hello.", "--json", "--max-tokens", "12",
         "--temperature", "0"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["reply"].strip()
    assert payload["model"] == "smollm2-135m" and payload["backend"] == "llamacpp"
    assert 0 < payload["usage"]["completion_tokens"] <= 12
    assert payload["timings"]["ttft_s"] > 0


def test_models_json_lists_bundled(real_home):
    env = {**os.environ, "AGENTSPEC_HOME": str(real_home)}
    out = subprocess.run([sys.executable, "-m", "agentspec.cli", "models", "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["smollm2-135m"]["quantization"] == "Q8_0"
    assert rows["smollm2-135m-q4_1"]["quantization"] == "Q4_1"
    assert rows["smollm2-135m"]["context_length"] == 8192
