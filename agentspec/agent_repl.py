"""The agent REPL: ``agentspec chat`` with an agent spec (the default), on top of ``repl.ChatRepl``.

Each line goes to an ``AgentSession`` (one persistent session per name); the tools the agent runs are
shown dimmed above its reply. With ``--approve`` a consequential call stops for the operator's
yes/no (``approve? [y/N]``) before it runs; an approval left waiting when the process ended is asked
again when the session is resumed. Line editing, history, pipes and Ctrl-D are ``ChatRepl``'s.

Commands: /help, /sessions, /new [NAME], /trace, /stats, /user, /memory, /exit.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from agentspec.errors import AgentSpecError
from agentspec.graph.session import AgentSession, TurnResult, list_sessions
from agentspec.graph.trace import summarize, trace_table
from agentspec.repl import ChatRepl

__all__ = ["AGENT_HELP", "AgentRepl", "new_session_name"]

AGENT_HELP = """\
/help           this help
/sessions       list saved sessions (resume one with: agentspec chat --session NAME)
/new [NAME]     start a new session (fresh conversation and a fresh copy of the shop)
/trace          the steps of this session: tokens, outputs, tool calls, latency
/stats          totals of the last turn
/user           the authenticated user of this session
/memory         what the last turn recalled (memories checked against the store, passages), why
                anything was dropped, and what it kept from the customer's words; `agentspec memory
                list --user U` shows everything kept
/exit           quit (Ctrl-D also quits); the session is saved after every turn"""


def new_session_name() -> str:
    return time.strftime("chat-%Y%m%d-%H%M%S")


class AgentRepl(ChatRepl):
    def __init__(self, session: AgentSession, *, open_session: Callable[[str], AgentSession] | None = None,
                 console: Console | None = None, read_line: Callable[[str], str] | None = None):
        super().__init__(session.model, session.deps.settings, console=console, read_line=read_line)
        self.session = session
        self._open_session = open_session
        self.last_turn: TurnResult | None = None

    def banner(self) -> None:
        s = self.session
        state = s.state
        self.console.print(f"[bold]agentspec chat[/] · spec {s.spec.name} · {self.model.name} ({self.model.backend})"
                           f" · session {s.name} · /help for commands", highlight=False)
        if state.get("turn"):
            self.console.print(f"[dim]resumed: {state['turn']} turns so far"
                               + (f", user {state['user_id']}" if state.get("user_id") else "") + "[/]")
            last = [m for m in state.get("messages", []) if "meta" not in m][-2:]
            for m in last:
                self.console.print(f"[dim]{'you' if m['role'] == 'user' else 'agent'}> {_text(m)}[/]", highlight=False)
        if s.interrupted():
            self.console.print("[dim]the last turn was cut off (the process stopped); finishing it:[/]")
            result = s.recover()
            while result is not None and result.approval is not None:
                result = self._ask_operator(result.approval, shown=result)
            if result is not None:
                self._finish(result)
        waiting = s.pending_approval()
        if waiting is not None:
            result = self._ask_operator(waiting)
            while result.approval is not None:
                result = self._ask_operator(result.approval, shown=result)
            self._finish(result)

    def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.console.print(AGENT_HELP, markup=False)
        elif name == "/sessions":
            self.show_sessions()
        elif name == "/new":
            self.new_session(arg.strip() or new_session_name())
        elif name == "/trace":
            self.console.print(trace_table(self.session.trace(), title=f"session {self.session.name}"))
        elif name == "/stats":
            self.show_stats()
        elif name == "/user":
            self.console.print(self.session.state.get("user_id") or "no user authenticated yet", markup=False)
        elif name == "/memory":
            self.show_memory()
        else:
            self.console.print(f"[red]unknown command {name}[/] (try /help)")
        return True

    def respond(self, text: str) -> Any:  # type: ignore[override]
        try:
            result = self.session.send(text)
            while result.approval is not None:
                result = self._ask_operator(result.approval, shown=result)
        except AgentSpecError as exc:
            self.console.print(f"[red]Error:[/] {exc}", highlight=False)
            return None
        except KeyboardInterrupt:  # Ctrl-C stops the turn, not the chat (a write it ran is still reported)
            finished = self.session.abandon()
            self.console.print("[dim](stopped)[/]")
            if finished is not None and finished.approval is None:
                self._finish(finished)
            return finished
        self._finish(result)
        return result

    def _ask_operator(self, approval: dict[str, Any], shown: TurnResult | None = None) -> TurnResult:
        if shown is not None:
            self._show_calls(shown)
        self.console.print(f"[yellow]approval needed:[/] {approval['statement']}", highlight=False)
        try:
            answer = self._read_line("approve? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        # The operator's key, typed for the graph: only y/yes approves (agentspec.graph.guard.approved).
        accepted = answer.strip().lower() in ("y", "yes")
        return self.session.resume({"type": "accept" if accepted else "reject"})

    def _show_calls(self, result: TurnResult) -> None:
        for c in result.tool_calls:
            args = json.dumps(c["arguments"], ensure_ascii=False)
            obs = " ".join(c["observation"].split())
            self.console.print(f"[dim]  · {c['name']} {args} → {obs[:100]}{'…' if len(obs) > 100 else ''}[/]",
                               highlight=False, markup=True)

    def _finish(self, result: TurnResult) -> None:
        self._show_calls(result)
        self.console.print(f"agent> {result.reply}", highlight=False, markup=False)
        self.last_turn = result

    def show_memory(self) -> None:
        """The last recall step's memories, drops and passages (``graph.recall``'s trace entry)."""
        spec = self.session.spec
        if spec.memory is None and spec.retrieval is None:
            self.console.print("this spec has no memory: or retrieval: block", markup=False)
            return
        trace = self.session.trace()
        entries = [e for e in trace if e.get("kind") == "recall"]
        if not entries:
            self.console.print("nothing recalled yet", markup=False)
            return
        last = entries[-1]
        if last.get("user") is None:
            self.console.print("no user authenticated yet: nothing is recalled before that", markup=False)
        table = Table("recalled", "source / why", title=f"turn {last.get('turn')} · {last.get('latency_ms')} ms")
        for m in last.get("memories", []):
            table.add_row(m["text"], m["source"])
        for d in last.get("dropped", []):
            table.add_row(f"[s]{d['text']}[/s]", f"dropped: {d['why']}" + (f" (live: {d['live']})" if d.get("live") else ""))
        for p in last.get("passages", []):
            table.add_row(f"passage [{p['source']}]", f"score {p['score']:.2f}")
        kept = [e for e in trace if e.get("kind") == "remember" and e.get("turn") == last.get("turn")]
        for read in (r for e in kept for r in e.get("read", [])):
            for text in read.get("kept") or ["(nothing of theirs named)"]:
                table.add_row(text, f"kept from the customer's words ({read['label']}, p={read['p']:.2f})")
        self.console.print(table)

    def show_sessions(self) -> None:
        table = Table("name", "turns", "user", "last used", "spec")
        for meta in list_sessions():
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.get("updated", 0)))
            mark = " *" if meta.get("name") == self.session.name else ""
            table.add_row(f"{meta.get('name')}{mark}", str(meta.get("turns")), str(meta.get("user_id") or "-"), when,
                          str(meta.get("spec")))
        self.console.print(table)

    def new_session(self, name: str) -> None:
        if self._open_session is None:
            self.console.print("[red]opening sessions is not available here[/]")
            return
        try:
            session = self._open_session(name)
        except AgentSpecError as exc:
            self.console.print(f"[red]Error:[/] {exc}", highlight=False)
            return
        self.session.close()
        self.session = session
        self.console.print(f"[green]session {name}[/]", highlight=False)

    def show_stats(self) -> None:
        if self.last_turn is None:
            self.console.print("[dim]no turn yet[/]")
            return
        totals = summarize(self.last_turn.entries)
        table = Table(show_header=False, box=None)
        for key, value in totals.items():
            table.add_row(key.replace("_", " "), f"{value:.0f}" if isinstance(value, float) else str(value))
        table.add_row("turn time", f"{self.last_turn.seconds:.2f} s")
        self.console.print(table)


def _text(message: dict[str, Any]) -> str:
    """A stored message as a person reads it (an agent reply step shows its text)."""
    content = message.get("content") or ""
    if message.get("role") == "assistant":
        try:
            data = json.loads(content)
        except ValueError:
            return content
        if isinstance(data, dict) and "reply" in data:
            return str(data["reply"])
    return content
