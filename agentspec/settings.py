"""Runtime settings: one typed schema that generates the CLI flags and the environment variables.

Every field is documented once, here. ``agentspec chat/ask`` get one ``--flag`` per field, each also
read from ``AGENTSPEC_<FIELD>`` (e.g. ``AGENTSPEC_MODEL``, ``AGENTSPEC_BACKEND``). Unset fields (None)
leave the backend's own defaults in place. A field's bounds (``ge``/``gt``/``le``/``lt``, the same as
the spec's ``model`` and ``generation`` blocks) become the flag's range: ``--top-p 2`` is refused
with the flag's name and its valid range, as an invalid spec is.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Literal

import click
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from agentspec.errors import AgentSpecError
from agentspec.runtime.base import ChatModel, GenerationSettings
from agentspec.runtime.registry import backend_class, load_model

__all__ = ["RuntimeSettings", "settings_options"]


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field("llamacpp", description="Model backend: llamacpp, transformers or openai.")
    model: str | None = Field(None, description="Bundled model name or path to a GGUF file (default smollm2-135m).")
    base_url: str | None = Field(None, description="openai backend: endpoint URL, e.g. http://127.0.0.1:8000/v1.")
    api_key: str | None = Field(None, description="openai backend: API key (default $OPENAI_API_KEY).")
    device: str | None = Field(None, description="transformers backend: cpu or cuda (default: cuda if present).")
    n_ctx: int | None = Field(None, ge=256, description="Context length in tokens (default 4096; agent specs set "
                              "their own).")
    threads: int | None = Field(None, ge=1, description="llamacpp backend: CPU threads (default: all cores).")
    seed: int = Field(0, description="Sampling seed.")
    temperature: float = Field(0.2, ge=0.0, description="Sampling temperature; 0 is greedy.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    top_k: int = Field(40, ge=0, description="Top-k cut (0: off).")
    max_tokens: int = Field(512, ge=1, description="Most tokens in one reply.")
    system: str | None = Field(None, description="System prompt.")

    def generation(self) -> GenerationSettings:
        return GenerationSettings(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
            top_k=self.top_k, seed=self.seed,
        )

    def load(self) -> ChatModel:
        """Build the model these settings name, passing each backend only what it takes."""
        cls = backend_class(self.backend)
        accepted = set(inspect.signature(cls.__init__).parameters)
        wanted = {
            "base_url": self.base_url, "api_key": self.api_key, "device": self.device,
            "n_ctx": self.n_ctx, "n_threads": self.threads, "seed": self.seed,
        }
        options = {k: v for k, v in wanted.items() if k in accepted and v is not None}
        misplaced = [k for k, v in wanted.items() if v is not None and k not in accepted and k != "seed"]
        if misplaced:
            raise AgentSpecError(
                f"--{misplaced[0].replace('_', '-')} does not apply to the {self.backend} backend.",
                hint="Drop the option or choose the backend it belongs to.", code="bad_option",
            )
        if "default_settings" in accepted:
            options["default_settings"] = self.generation()
        return load_model(self.backend, self.model, **options)


def _click_type(base: type, field: FieldInfo) -> Any:
    """The click type of a field: its base type, as a range when the field has bounds."""
    bounds: dict[str, Any] = {}
    for rule in field.metadata:
        for attr, key, is_open in (("ge", "min", False), ("gt", "min", True), ("le", "max", False), ("lt", "max", True)):
            if getattr(rule, attr, None) is not None:
                bounds[key] = getattr(rule, attr)
                bounds[f"{key}_open"] = is_open
    if not bounds or base is str:
        return base
    return click.IntRange(**bounds) if base is int else click.FloatRange(**bounds)


def settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with one option per RuntimeSettings field."""
    for name, field in reversed(list(RuntimeSettings.model_fields.items())):
        annotation = field.annotation
        base = next((t for t in (int, float, str) if annotation in (t, t | None)), str)
        func = click.option(
            f"--{name.replace('_', '-')}", name,
            type=_click_type(base, field), default=field.default, show_default=field.default is not None,
            envvar=f"AGENTSPEC_{name.upper()}", help=field.description,
        )(func)
    return func
