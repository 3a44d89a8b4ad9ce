"""Mixture of LoRA experts in the graph: the spec's router picks each turn's adapter; the model switches."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from agentspec.errors import AgentSpecError
from agentspec.graph import AgentSession
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import check_spec, find_spec, load_spec
from agentspec.routing.router import routing_text
from agentspec.train.router import fit_router

from conftest import reply


class SwitchingModel(ScriptedChatModel):
    """A scripted model that records adapter switches the way LlamaCppChatModel exposes them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active_adapter = None
        self.switches: list[str] = []

    def set_adapter(self, name):
        if name != self.active_adapter:
            self.switches.append(name)
        self.active_adapter = name


def routed_spec(tmp_path, experts=("returns", "orders")):
    texts = ["i want to return my headphones refund", "return the lamp please",
             "cancel my pending order", "change the address of my order"]
    router = fit_router([routing_text([{"role": "user", "content": t}]) for t in texts], [0, 0, 1, 1],
                        ["returns", "orders"], epochs=200)
    router.save(tmp_path / "router.json")
    for name in experts:
        (tmp_path / f"{name}.gguf").write_bytes(b"GGUF")
    shipped = find_spec("retail")
    data = yaml.safe_load(shipped.read_text())
    data["understanding"]["reader"] = str(shipped.parent / data["understanding"]["reader"])  # the packaged one
    data["adapters"] = [{"name": n, "path": f"{n}.gguf"} for n in experts]
    data["routing"] = {"router": "router.json"}
    path = tmp_path / "routed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_each_turn_runs_on_the_expert_the_router_picks(tmp_path, shop_db):
    spec = load_spec(str(routed_spec(tmp_path)))
    model = SwitchingModel([reply("Sure, which order?"), reply("Which item?"), reply("Which order?")])
    with AgentSession(spec, model=model, data=shop_db) as s:
        s.send("I want to cancel my pending order")
        s.send("Actually I want to return the headphones for a refund")
        s.send("and cancel the other order please")
        routes = [e for e in s.trace() if e["kind"] == "route"]
        assert [r["output"] for r in routes] == ["orders", "returns", "orders"]
        assert model.switches == ["orders", "returns", "orders"]
        assert [e["expert"] for e in s.trace() if e["kind"] == "decide"] == ["orders", "returns", "orders"]
        assert set(routes[0]["scores"]) == {"returns", "orders"}
        assert np.isclose(sum(routes[0]["scores"].values()), 1, atol=0.01)


def test_router_and_adapters_must_agree(tmp_path):
    _, problems = check_spec(str(routed_spec(tmp_path, experts=("returns", "other"))))
    assert [p.path for p in problems] == ["routing.router"] and "orders" in problems[0].message
    good = routed_spec(tmp_path)
    assert check_spec(str(good))[1] == []
    (tmp_path / "router.json").unlink()
    _, problems = check_spec(str(good))
    assert [p.path for p in problems] == ["routing.router"] and "not found" in problems[0].message


def test_a_model_that_cannot_switch_adapters_is_refused(tmp_path, shop_db):
    spec = load_spec(str(routed_spec(tmp_path)))
    with pytest.raises(AgentSpecError, match="cannot switch adapters"):
        AgentSession(spec, model=ScriptedChatModel([]), data=shop_db)
