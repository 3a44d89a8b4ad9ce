"""The import contract and the domain-free core, checked on the source (every import, lazy ones too).

Layers, top to bottom: the commands (cli, repl, fuzz), experiments, training, evaluation, the agent graph,
decoding and routing, the runtime. A module may import its own layer and those below, never above.
The core (runtime, decoding, graph, spec, routing, hooks, toolkit, errors) imports no toolkit's
domain, no training and no evaluation; a toolkit reaches the core only through its public pieces,
never the graph. The graph holds no regular expression and no retail word in its code: customers'
words are read by the trained reader and the toolkit's hooks.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The package-dir mapping of pyproject.toml: folder -> package.
ROOTS = {"agentspec": "agentspec", "tools": "agentspec.tools", "memory": "agentspec.memory",
         "evals": "agentspec.evals", "prompts": "agentspec.prompts"}
LAYERS = [("agentspec.cli", "agentspec.repl", "agentspec.agent_repl", "agentspec.fuzz", "agentspec.server", "agentspec.memory_cli", "agentspec.retrieval_cli"), ("agentspec.experiments",),
          ("agentspec.train",), ("agentspec.evals",), ("agentspec.graph",), ("agentspec.decoding", "agentspec.routing", "agentspec.memory"),
          ("agentspec.runtime",)]
CORE = ("agentspec.runtime", "agentspec.decoding", "agentspec.graph", "agentspec.spec", "agentspec.routing", "agentspec.memory",
        "agentspec.hooks", "agentspec.toolkit", "agentspec.errors")
NOT_FOR_CORE = ("agentspec.tools.retail", "agentspec.train", "agentspec.evals", "agentspec.experiments",
                "agentspec.cli", "agentspec.repl", "agentspec.agent_repl", "agentspec.fuzz", "agentspec.server",
                "agentspec.memory_cli", "agentspec.retrieval_cli")
NOT_FOR_TOOLKITS = ("agentspec.server", "agentspec.graph", "agentspec.train", "agentspec.evals", "agentspec.experiments", "agentspec.cli")
# Words of the retail domain, as whole words of a name or a string ("items" is dict.items, not a retail word).
RETAIL_WORDS = {"order", "orders", "cancel", "cancelled", "refund", "exchange", "retail", "item", "product", "products",
                "payment", "paypal", "gift", "address", "zip", "email", "customer", "shop", "tau2"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((package, *parts))] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("agentspec")}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


MODULES = _modules()
IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int | None:
    return next((i for i, packages in enumerate(LAYERS) if _within(module, packages)), None)


def test_the_source_tree_is_found():
    assert {"agentspec.graph.nodes", "agentspec.tools.retail.store", "agentspec.evals.harness",
            "agentspec.train.reader", "agentspec.routing.reader"} <= set(MODULES)


def test_no_module_imports_a_layer_above_its_own():
    broken = [f"{name} imports {target}" for name, targets in IMPORTS.items() if (mine := _layer(name)) is not None
              for target in targets if (theirs := _layer(target)) is not None and theirs < mine]
    assert broken == []


def test_the_core_imports_no_domain_training_or_evaluation():
    broken = [f"{name} imports {target}" for name, targets in IMPORTS.items() if _within(name, CORE)
              for target in targets if _within(target, NOT_FOR_CORE)]
    assert broken == []


def test_toolkits_never_reach_into_the_graph():
    broken = [f"{name} imports {target}" for name, targets in IMPORTS.items() if _within(name, ("agentspec.tools",))
              for target in targets if _within(target, NOT_FOR_TOOLKITS)]
    assert broken == []


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """Names and string literals of the code: docstrings and comments are left out."""
    source = path.read_text(encoding="utf-8")
    docstrings = {node.body[0].value.lineno for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type in (tokenize.NAME, tokenize.STRING) and not (t.type == tokenize.STRING and t.start[0] in docstrings)]


GRAPH = sorted(p for name, p in MODULES.items() if name.startswith("agentspec.graph"))


@pytest.mark.parametrize("path", GRAPH, ids=lambda p: p.name)
def test_the_graph_holds_no_regular_expression_and_no_retail_word(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert not any(isinstance(n, ast.Import) and any(a.name == "re" for a in n.names) for n in ast.walk(tree))
    words = [t.string for t in _code_tokens(path)
             if set(re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", t.string).lower())) & RETAIL_WORDS]
    assert words == []

