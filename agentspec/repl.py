"""The terminal chat REPL: streamed replies rendered with rich, line editing with prompt_toolkit.

Commands: /help, /reset, /model [NAME], /stats, /exit. Ctrl-C during a reply stops the generation and
keeps the conversation (the partial reply stays in the history); Ctrl-C at the prompt clears the
line; Ctrl-D exits. Without a terminal (a pipe), lines are read from stdin and replies printed plainly,
so the REPL can be scripted and tested. A line that is not valid UTF-8 is refused with an error naming
the bad byte; the loop goes on.

This module knows nothing about tools or agents: it drives a ``ChatModel``. The agent REPL
(``agentspec.agent_repl``) subclasses it, overriding ``banner``, ``command`` and ``respond``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table

from agentspec.errors import AgentSpecError
from agentspec.runtime.base import ChatModel, Completion, GenerationSettings, Message

__all__ = ["ChatRepl", "HELP", "checked_text"]

HELP = """\
/help           this help
/reset          forget the conversation (keeps the system prompt)
/model [NAME]   show the model, or switch to NAME (a bundled name or GGUF path)
/stats          tokens, speed and time to first token of the last reply
/exit           quit (Ctrl-D also quits; Ctrl-C stops a reply in progress)"""


class ChatRepl:
    def __init__(
        self,
        model: ChatModel,
        settings: GenerationSettings,
        *,
        system: str | None = None,
        console: Console | None = None,
        load_model: Callable[[str], ChatModel] | None = None,
        read_line: Callable[[str], str] | None = None,
    ):
        self.model = model
        self.settings = settings
        self.system = system
        self.console = console or Console()
        self._load_model = load_model
        self._read_line = read_line or _line_reader()
        self.messages: list[Message] = self._fresh()
        self.last: Completion | None = None

    def _fresh(self) -> list[Message]:
        return [{"role": "system", "content": self.system}] if self.system else []

    # -- loop ---------------------------------------------------------------------------------

    def banner(self) -> None:
        """Printed once when the loop starts (the agent REPL prints its session here)."""
        self.console.print(
            f"[bold]agentspec chat[/] · {self.model.name} ({self.model.backend}) · /help for commands"
        )

    def run(self) -> None:
        self.banner()
        while True:
            try:
                line = self._read_line("you> ")
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                self.console.print()
                return
            try:
                if not self.handle(line):
                    return
            except KeyboardInterrupt:  # Ctrl-C outside a streamed reply (an agent turn): back to the prompt
                self.console.print("[dim](stopped)[/]")

    def handle(self, line: str) -> bool:
        """Process one input line; False means exit."""
        try:
            line = checked_text(line).strip()
        except AgentSpecError as exc:
            self.console.print(f"[red]Error:[/] {exc}", highlight=False)
            return True
        if not line:
            return True
        if line.startswith("/"):
            return self.command(line)
        self.respond(line)
        return True

    def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.console.print(HELP, markup=False)
        elif name == "/reset":
            self.messages = self._fresh()
            self.console.print("[dim]conversation cleared[/]")
        elif name == "/model":
            self.switch_model(arg.strip()) if arg.strip() else self.show_model()
        elif name == "/stats":
            self.show_stats()
        else:
            self.console.print(f"[red]unknown command {name}[/] (try /help)")
        return True

    # -- replies ------------------------------------------------------------------------------

    def respond(self, text: str) -> Completion | None:
        self.messages.append({"role": "user", "content": text})
        try:
            stream = self.model.stream(self.messages, self.settings)
        except AgentSpecError as exc:
            self.messages.pop()
            self.console.print(f"[red]Error:[/] {exc}", markup=True)
            return None
        reply = ""
        live_ok = self.console.is_terminal
        live = (Live(Markdown(""), console=self.console, refresh_per_second=12, vertical_overflow="visible")
                if live_ok else None)
        try:
            if live:
                live.start()
            for delta in stream:
                reply += delta
                if live:
                    live.update(Markdown(reply))
                else:
                    self.console.file.write(delta)
                    self.console.file.flush()
        except KeyboardInterrupt:
            stream.close("interrupted")
        finally:
            if live:
                live.update(Markdown(reply))
                live.stop()
        completion = stream.completion
        assert completion is not None
        if not live:
            self.console.file.write("\n")
        if completion.finish_reason == "interrupted":
            self.console.print("[dim](stopped)[/]")
        if completion.dropped_messages:
            self.console.print(
                f"[yellow]note:[/] the conversation outgrew the context; the {completion.dropped_messages} "
                "oldest messages were left out of this turn (the system prompt is kept)."
            )
        self.messages.append({"role": "assistant", "content": completion.text})
        self.last = completion
        return completion

    # -- info ---------------------------------------------------------------------------------

    def show_model(self) -> None:
        path = getattr(self.model, "path", None)
        self.console.print(
            f"{self.model.name} · backend {self.model.backend} · context {self.model.context_length} tokens"
            + (f" · {path}" if path else ""),
            markup=False,
        )

    def switch_model(self, name: str) -> None:
        if self._load_model is None:
            self.console.print("[red]switching models is not available here[/]")
            return
        try:
            self.model = self._load_model(name)
        except AgentSpecError as exc:
            self.console.print(f"[red]Error:[/] {exc}")
            return
        self.console.print(f"[green]now using[/] {self.model.name} (conversation kept)")

    def show_stats(self) -> None:
        if self.last is None:
            self.console.print("[dim]no reply yet[/]")
            return
        c = self.last
        table = Table(show_header=False, box=None)
        table.add_row("prompt tokens", f"{c.usage.prompt_tokens} ({c.usage.cached_tokens} reused from cache)")
        table.add_row("reply tokens", str(c.usage.completion_tokens))
        table.add_row("time to first token", f"{c.timings.ttft_s * 1000:.0f} ms")
        table.add_row("decode speed", f"{c.timings.decode_tokens_per_s(c.usage.completion_tokens):.1f} tokens/s")
        table.add_row("total time", f"{c.timings.total_s:.2f} s")
        table.add_row("finish", c.finish_reason)
        self.console.print(table)


def checked_text(text: str) -> str:
    """``text`` if it is valid Unicode; else an ``AgentSpecError`` naming the first bad byte.

    Undecodable input bytes reach Python as lone surrogates (U+DC80..U+DCFF: the ``surrogateescape``
    of stdin, argv and terminals in a non-UTF-8 locale); no model, tokenizer or store can take them.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        byte = f"byte 0x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else f"U+{ord(char):04X}"
        raise AgentSpecError(f"the input is not valid UTF-8 ({byte} at character {exc.start + 1})",
                             hint="Type or pipe UTF-8 text (check the terminal's or the file's encoding).",
                             code="bad_input") from None
    return text


def _line_reader() -> Callable[[str], str]:
    """prompt_toolkit with persistent history on a terminal; plain stdin otherwise."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        def read_plain(prompt: str) -> str:
            # Bytes, decoded here: a line that is not UTF-8 becomes lone surrogates that ``handle``
            # refuses, instead of a UnicodeDecodeError that would end the loop.
            buffer = getattr(sys.stdin, "buffer", None)
            line = (buffer.readline().decode("utf-8", "surrogateescape") if buffer is not None
                    else sys.stdin.readline())
            if not line:
                raise EOFError
            return line.rstrip("\n")

        return read_plain
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    home = Path(os.environ.get("AGENTSPEC_HOME", Path.home() / ".cache" / "agentspec"))
    home.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(home / "chat_history")))
    return lambda prompt: session.prompt(prompt)
