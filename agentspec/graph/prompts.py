"""The system prompt of an agent: its Jinja template, found by name or path, rendered per state.

Contract: ``find_template(spec)`` returns the template text of ``spec.prompts.system``: a path
(relative to the spec file) if that file exists, else a template shipped in ``agentspec.prompts``;
otherwise ``AgentSpecError`` naming both places looked at. ``SystemPrompt.render(tools, user_id)``
fills the template's variables: ``tools`` (the tool list and step format of
``agentspec.decoding.prompt.tools_prompt`` for the tools offered now, in the spec's ``prompts.tools`` style), ``user_id`` (the authenticated
user or None), ``spec`` (the AgentSpec). Unknown variables are an error (StrictUndefined), so a typo in
a template fails at the first render, not silently.

Renders are cached per (tool set, user): the prompt changes only when the offered tools or the
authenticated user do, which also keeps llama.cpp's prompt-prefix cache useful.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jinja2

from agentspec.decoding.prompt import tools_prompt
from agentspec.spec import find_template
from agentspec.toolkit import Tool

if TYPE_CHECKING:
    from agentspec.spec import AgentSpec

__all__ = ["SystemPrompt", "find_template"]  # find_template: agentspec.spec, re-exported


class SystemPrompt:
    """A compiled system template; ``render`` is cheap after the first call for the same inputs."""

    def __init__(self, spec: "AgentSpec"):
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                 keep_trailing_newline=False)
        self.spec = spec
        self.template = env.from_string(find_template(spec))
        self._cache: dict[tuple[tuple[str, ...], str | None, bool], str] = {}

    def render(self, tools: Sequence[Tool], user_id: str | None, *, parallel: bool = False) -> str:
        key = (tuple(t.name for t in tools), user_id, parallel)
        if key not in self._cache:
            listing = tools_prompt(tools, parallel=parallel, style=self.spec.prompts.tools)
            text = self.template.render(tools=listing, user_id=user_id,
                                        spec=self.spec)
            self._cache[key] = text.strip() + "\n"
        return self._cache[key]
