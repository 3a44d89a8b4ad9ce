"""Fuzz targets of the calls agentspec handles: a tool's arguments (``RetailStore.invoke`` and the
registry) and a line typed into the REPLs (plain chat and the agent REPL's slash commands).

hypothesis is imported inside the functions that use it.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentspec.fuzz._files import session_meta
from agentspec.fuzz._inputs import hostile_text, json_values
from agentspec.fuzz._runner import FuzzContext


# ---- target: tool arguments ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Pools:
    """Real values of the retail db, so that fuzzed calls reach the tools' deeper branches."""

    users: list[str]
    emails: list[str]
    names: list[tuple[str, str, str]]
    orders: list[dict[str, Any]]
    products: dict[str, list[str]]
    methods: list[str]


def _pools(data: dict[str, Any]) -> _Pools:
    users = sorted(data["users"])[:60]
    orders = [data["orders"][k] for k in sorted(data["orders"])][:200]
    return _Pools(
        users=users,
        emails=[data["users"][u]["email"] for u in users],
        names=[(data["users"][u]["name"]["first_name"], data["users"][u]["name"]["last_name"],
                data["users"][u]["address"]["zip"]) for u in users],
        orders=orders,
        products={pid: sorted(p["variants"]) for pid, p in data["products"].items()},
        methods=sorted({m for u in users for m in data["users"][u]["payment_methods"]}),
    )


def tool_strategy(ctx: FuzzContext) -> Any:
    """``(tool name, arguments)``: mostly real ids of one order, some hostile strings and wild JSON,
    missing and unexpected keys, now and then arguments that are not an object."""
    from hypothesis import strategies as st

    from agentspec.tools.retail import RetailStore

    pools = _pools(ctx.data)
    names = st.sampled_from([*RetailStore.TOOL_NAMES, "", "nope", "__init__", "_db", "invoke"])
    index = st.integers(0, 1 << 16)
    fixed = {"reason": ["no longer needed", "ordered by mistake", "other"],
             "expression": ["2 + 2", "1/0", "(" * 50, "2 ** 999", "1e308 * 10", "-(3)", "9" * 400]}
    extra_keys = st.dictionaries(st.sampled_from(["x", "order_id", "user_id", "self", "kwargs"]), json_values(),
                                 max_size=1)
    hostile_list = st.lists(hostile_text(), max_size=3)

    @st.composite
    def call(draw: Any) -> tuple[str, Any]:
        def pick(values: list[Any]) -> Any:
            return values[draw(index) % len(values)] if values else draw(hostile_text())

        name = draw(names)
        order = pick(pools.orders)
        items = [i["item_id"] for i in order["items"]]
        variants = [v for i in order["items"] for v in pools.products.get(i["product_id"], [])]
        real: dict[str, Callable[[], Any]] = {
            "user_id": lambda: pick([*pools.users, order["user_id"]]), "email": lambda: pick(pools.emails),
            "order_id": lambda: order["order_id"], "first_name": lambda: pick(pools.names)[0],
            "last_name": lambda: pick(pools.names)[1], "zip": lambda: pick(pools.names)[2],
            "product_id": lambda: pick(sorted(pools.products)), "item_id": lambda: pick(items + variants),
            "item_ids": lambda: [pick(items) for _ in range(draw(st.integers(0, 3)))],
            "new_item_ids": lambda: [pick(variants or items) for _ in range(draw(st.integers(0, 3)))],
            "payment_method_id": lambda: pick(pools.methods + [p["payment_method_id"]
                                                               for p in order.get("payment_history", [])]),
            **{key: (lambda values=values: pick(values)) for key, values in fixed.items()},
        }
        args: dict[str, Any] = {}
        for param in _parameters(name):
            choice = draw(st.integers(0, 19))
            if choice == 0:
                continue  # a missing argument
            if choice < 16 and param in real:
                args[param] = real[param]()
            elif choice < 19:
                args[param] = draw(hostile_list if param in ("item_ids", "new_item_ids") else hostile_text())
            else:
                args[param] = draw(json_values())
        shape = draw(st.integers(0, 19))  # 0: not an object at all; 1-3: an unexpected key too
        arguments: Any = draw(json_values()) if shape == 0 else {**args, **draw(extra_keys)} if shape < 4 else args
        return name, arguments

    return call()


def _parameters(name: str) -> list[str]:
    import inspect

    from agentspec.tools.retail import RetailStore

    func = getattr(RetailStore, name, None) if name in RetailStore.TOOL_NAMES else None
    return [p for p in inspect.signature(func).parameters if p != "self"] if func else ["x"]


def check_tool_call(ctx: FuzzContext, value: tuple[str, Any]) -> None:
    """The call through ``RetailStore.invoke`` and through the registry (the graph's path): a string
    observation either way; for a well-formed call, the policy hooks ``owners``/``describe``/``report``."""
    from agentspec.tools.retail._calling import check_arguments

    name, arguments = value
    store = ctx.fresh_store()
    observation = store.invoke(name, arguments)
    assert isinstance(observation, str), f"invoke returned {type(observation).__name__}"
    if name not in store.TOOL_NAMES:
        return
    outcome = ctx.registry().call(name, arguments if isinstance(arguments, dict) else {"_": arguments})
    assert isinstance(outcome.observation, str)
    ctx.writes += name in store.WRITE_TOOLS
    if not isinstance(arguments, dict) or check_arguments(name, getattr(store, name), arguments) is not None:
        return
    store.owners(name, arguments)
    if name in store.WRITE_TOOLS:
        store.describe(name, arguments)
        if not observation.startswith("Error"):
            store.report(name, arguments)


# ---- target: REPL commands -----------------------------------------------------------------------

def repl_strategy(ctx: FuzzContext) -> Any:
    """``(to the agent REPL?, line, a saved session's session.json or None)``: slash commands with odd
    arguments, markup, control characters; the session file is what /sessions lists."""
    from hypothesis import strategies as st

    # /sessions and /new read saved sessions' files: drawn more often.
    commands = st.sampled_from(["/help", "/reset", "/model", "/stats", "/exit", "/quit", "/sessions", "/new",
                                "/trace", "/user", "/", "//", "/HELP", "/unknown", "/model\x00", *["/sessions"] * 4,
                                *["/new"] * 2])
    args = st.one_of(st.just(""), st.sampled_from([" ", " scripted", " alpha", " ../x", " a b", " [red]x[/]",
                                                   " \x1b[2J", " " + "x" * 70, " ä", " chat-1"]), st.text(max_size=12))
    command = st.tuples(commands, args).map("".join)
    line = st.one_of(command, command, command, st.text(max_size=30),
                     st.sampled_from(["[bold]", "\x00", "\r\n", "   /help", "hello"]))
    to_agent = st.integers(0, 3).map(bool)  # the agent REPL has the commands that read files
    return st.tuples(to_agent, line, st.one_of(st.none(), session_meta()))


def _make_repls(ctx: FuzzContext) -> tuple[Any, Any]:
    """A plain ``ChatRepl`` and an ``AgentRepl`` on scripted models, printing into a string buffer."""
    from rich.console import Console

    from agentspec.agent_repl import AgentRepl
    from agentspec.graph.session import AgentSession
    from agentspec.repl import ChatRepl
    from agentspec.runtime.base import GenerationSettings
    from agentspec.runtime.scripted import ScriptedChatModel

    console = Console(file=io.StringIO(), width=100)
    model = ScriptedChatModel(default_reply="Hello there, how can I help?")

    def load_other(name: str) -> Any:  # the CLI loads a real model; a scripted one keeps fuzzing fast
        return ScriptedChatModel(name=name, default_reply="Switched.")

    def no_input(prompt: str) -> str:
        raise EOFError

    def open_session(name: str) -> Any:
        return AgentSession(ctx.agent_spec, name=name, model=ScriptedChatModel(default_reply='{"reply": "Hi"}'),
                            toolkits={"retail": ctx.base_store})

    chat = ChatRepl(model, GenerationSettings(max_tokens=16), system="You help.", console=console,
                    load_model=load_other, read_line=no_input)
    agent = AgentRepl(open_session("repl"), open_session=open_session, console=console, read_line=no_input)
    return chat, agent


def check_repl_line(ctx: FuzzContext, value: tuple[bool, str, bytes | None]) -> None:
    """One line into ``ChatRepl.handle`` (plain chat) or, for a command, ``AgentRepl.handle``."""
    from agentspec.graph.session import sessions_dir

    to_agent, line, meta = value
    chat, agent = ctx.repls
    if meta is not None:
        (sessions_dir() / "gamma").mkdir(parents=True, exist_ok=True)
        (sessions_dir() / "gamma" / "session.json").write_bytes(meta)
    if to_agent and line.strip().startswith("/"):
        agent.handle(line)
    else:
        chat.handle(line)
    chat.console.file.seek(0)
    chat.console.file.truncate()
