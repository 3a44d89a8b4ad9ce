"""Checks of the files an agent spec names, for ``agentspec.spec.check_spec`` (``agentspec validate``).

- ``read_text(path, what)``: a file's text, or an ``AgentSpecError`` naming the file and the first byte
  that is not UTF-8.
- ``template_problem(source, variables)``: why a system-prompt template does not compile, or does not
  render with ``variables`` (strict: an unknown variable is a problem); None when it does both.
- ``chat_template_text(value, resolve)`` and ``chat_template_problem(source)``: ``model.chat_template``
  (a path, a packaged template name or the Jinja text itself) and whether it compiles.
- ``model_problem(backend, name)``: why the model ``model.name`` names cannot be loaded (an unknown
  name, a missing file, a file that is not GGUF), or None. It reads a file's first 4 bytes, never the
  model; a bundled name is taken as it is (locating one may build its file), and backends that serve
  models by name (openai, scripted) are not checked.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError

__all__ = ["chat_template_problem", "chat_template_text", "model_problem", "read_text", "template_problem"]

_LOCAL_BACKENDS = ("llamacpp", "transformers")


def read_text(path: Path | Any, what: str) -> str:
    """The UTF-8 text of ``path`` (a ``Path`` or a package resource); ``what`` names it in the error."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise AgentSpecError(f"{what} {path} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line}",
                             hint="Save the file as UTF-8.", code="not_utf8") from None


def template_problem(source: str, variables: list[Mapping[str, Any]]) -> str | None:
    """Why the Jinja ``source`` does not compile or render with each of ``variables``; None if it does.

    The environment is the one ``agentspec.graph.prompts.SystemPrompt`` renders with (StrictUndefined).
    """
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=False)
    try:
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"the template does not compile: {exc.message} (line {exc.lineno})"
    for values in variables:
        try:
            template.render(**values)
        except jinja2.TemplateError as exc:
            return f"the template does not render: {exc}"
    return None


def chat_template_text(value: str, resolve: Callable[[str], Path]) -> str:
    """The Jinja text ``model.chat_template`` names: a file (``resolve`` makes a spec-relative path
    absolute), else a template in ``agentspec/prompts``, else ``value`` itself when it is Jinja."""
    path = resolve(value)
    if path.is_file():
        return read_text(path, "chat template")
    packaged = files("agentspec.prompts") / value
    if "/" not in value and packaged.is_file():
        return read_text(packaged, "chat template")
    if "{{" in value or "{%" in value:
        return value
    raise AgentSpecError(f"chat template {value!r} not found (looked at {path} and in agentspec/prompts)",
                         hint="Give a path to a Jinja file, the name of a packaged template (e.g. "
                         "gemma3.chat.j2) or the template text.", code="prompt_not_found")


def chat_template_problem(source: str) -> str | None:
    """Why the chat template ``source`` does not compile (in the runtime's sandbox); None if it does."""
    import jinja2

    from agentspec.runtime.template import ChatTemplate

    try:
        ChatTemplate(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"the chat template does not compile: {exc.message} (line {exc.lineno})"
    return None


def model_problem(backend: str, name: str | None) -> str | None:
    """Why ``backend`` could not load the model ``name`` (module docstring); None when it looks loadable."""
    from agentspec.runtime.models import BUNDLED, GGUF_MAGIC

    if backend not in _LOCAL_BACKENDS:
        return None
    if name is None or name in BUNDLED:
        return None  # locating a bundled model may build it (quantize, assemble): loading checks it
    path = Path(name).expanduser()
    if not (path.exists() or path.suffix.lower() == ".gguf" or os.sep in name):
        return f"{name!r} is neither a bundled model ({', '.join(BUNDLED)}) nor a path to a model file"
    if not path.exists():
        return f"model file not found: {path.resolve()}"
    if path.is_dir():
        return None if backend == "transformers" else f"{path} is a directory, not a GGUF file"
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        return f"{path} is not a GGUF file (it starts with {magic!r})"
    return None
