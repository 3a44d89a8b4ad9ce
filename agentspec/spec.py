"""The agent spec: one YAML file naming the model, adapters, toolkits, prompts, policy and limits.

Contract:
- ``AgentSpec`` is a pydantic model with ``extra="forbid"`` at every level: a misspelt key is an
  error, never silently ignored.
- ``find_spec(name_or_path)`` resolves a path (a file that exists) or a name: ``retail`` is the
  packaged ``agentspec/specs/retail.yaml``, the default of ``agentspec chat``.
- ``check_spec(name_or_path) -> (spec | None, problems)`` reports EVERY problem at once, each with its
  field path: YAML syntax, pydantic validation, then semantic checks (unknown toolkits, tool names in
  the policy that no toolkit provides, missing adapter and prompt files, limits that cannot fit the
  model's context). ``load_spec`` raises ``SpecError`` listing them all. Relative paths in a spec are
  relative to the spec file's folder.
- Adapters are declared and validated here (name unique, file exists, scale finite); ``load_model``
  hands them to the backend (llamacpp applies GGUF LoRA adapters on the quantized base; the first is
  active). A backend that cannot apply them is an error, never a silent run of the bare base model.
- ``load_model(spec)`` builds the ChatModel the spec names, passing each backend only what it takes.

Not here: building toolkits for a session (``agentspec.graph.session``), the policy's enforcement
(``agentspec.graph.guard``), rendering prompts (``agentspec.graph.prompts``).
"""
from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from agentspec.errors import AgentSpecError
from agentspec.runtime.base import ChatModel, GenerationSettings

__all__ = [
    "AdapterSpec", "AgentSpec", "DecodingSpec", "GenerationSpec", "LimitsSpec", "ModelSpec", "PolicySpec",
    "PromptsSpec", "SpecError", "SpecProblem", "ToolkitSpec", "DEFAULT_SPEC", "check_spec", "find_spec",
    "load_spec", "load_model", "packaged_specs", "spec_toolkit_names",
]

DEFAULT_SPEC = "retail"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    backend: Literal["llamacpp", "transformers", "openai", "scripted"] = "llamacpp"
    name: str | None = Field(None, description="Bundled model name, GGUF path, HF dir or served model name.")
    n_ctx: int = Field(8192, ge=256, description="Context length in tokens.")
    threads: int | None = Field(None, ge=1, description="llamacpp: CPU threads (default: all cores).")
    base_url: str | None = Field(None, description="openai: endpoint URL.")
    device: str | None = Field(None, description="transformers: cpu or cuda.")
    seed: int = 0
    chat_template: str | None = Field(None, description="Jinja chat template (name in agentspec.prompts or path).")


class AdapterSpec(_Strict):
    name: str = Field(min_length=1)
    path: str = Field(min_length=1, description="LoRA adapter file (GGUF for llamacpp).")
    scale: float = Field(1.0, description="Adapter strength; 0 disables it.")


class RequestScopeSpec(_Strict):
    classifier: str = Field(min_length=1, description="Request classifier JSON (`agentspec train requests`): "
                            "names what each user message asks for (cancel, return, ...).")
    threshold: float = Field(0.3, gt=0, le=1, description="A request counts when its probability reaches this.")
    tools: dict[str, list[str]] = Field(min_length=1, description="Request -> the tools it needs. A tool listed "
                                        "here is offered only once the conversation has made a request that "
                                        "lists it, or while no request has been recognised at all.")


class RoutingSpec(_Strict):
    router: str | None = Field(None, description="Router JSON (`agentspec train router`): picks one of `adapters` "
                               "by name for each turn. Unset: the first adapter serves every turn.")
    requests: RequestScopeSpec | None = Field(None, description="Scope the write tools to what the user asked "
                                              "for. Unset: every tool the state allows is offered.")


class ToolkitSpec(_Strict):
    name: str = Field(min_length=1, description="Entry point in the agentspec.toolkits group.")
    config: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the toolkit factory.")


class PromptsSpec(_Strict):
    system: str = Field("retail_system.j2", description="System prompt template: packaged name or path.")
    tools: Literal["signatures", "json"] = Field(
        "signatures", description="How the tool list is shown: one signature line per tool (short; the grammar "
        "enforces the schema) or the full OpenAI JSON schema per tool.")


class PolicySpec(_Strict):
    auth_tools: list[str] = Field(default_factory=list, description="Tools whose successful result is the user id.")
    requires_user: list[str] = Field(default_factory=list, description="Tools refused until a user is authenticated.")
    requires_confirmation: list[str] = Field(
        default_factory=list, description="Tools that run only after the user explicitly confirmed that call.")
    one_user_per_session: bool = Field(True, description="Refuse calls on another user's data.")
    handoff_tool: str | None = Field(None, description="Tool that hands the user to a human.")
    handoff_message: str = "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."
    writes_follow_named: list[str] = Field(
        default_factory=list, description="Identifier kinds (e.g. order) whose value in a write must be one the "
        "user named since the last write, when they named any: the write acts on what the user asked about.")
    lookups_follow_named: list[str] = Field(
        default_factory=list, description="Identifier kinds (e.g. product) whose value in a lookup (a tool that "
        "needs no confirmation) must be one the user's messages since the last write refer to, when they refer "
        "to any: the model reads what the request is about, not every product of every order.")
    report_writes: bool = Field(
        False, description="After a confirmed write succeeds, the graph says it is done (the toolkit's report "
        "hook) and ends the turn, instead of asking the model for a reply.")
    choices_follow_said: bool = Field(
        False, description="An enumerated argument of a write (e.g. a cancel reason) takes only the values the "
        "user's messages since the last write say, when they say any (every word of the value, by its stem).")
    choice_phrases: dict[str, list[str]] = Field(
        default_factory=dict, description="With choices_follow_said: other words that say an enumerated value "
        "(\"no longer needed\": [\"changed my mind\", ...]); a phrase is said when every word of it is, by its stem.")
    act_on_identity: bool = Field(
        False, description="Before authentication: a turn in which the user's words give an auth tool every value "
        "it needs (an email; a name dictated with its zip code) starts with a call, not a reply "
        "(agentspec.graph.identity).")
    claims_need_writes: bool = Field(
        False, description="A model reply that says a change was made (\"has been cancelled\", \"I have updated\") "
        "while no write has succeeded in the conversation is not said: the step is decoded again as a tool call "
        "(the write itself, or the read it needs).")
    act_on_requests: bool = Field(
        False, description="With a request scope (routing.requests): a turn whose user message brings a request "
        "it scopes tools for (a cancel, a return, a forbidden request that sounds like one) starts with a tool "
        "call, not a reply, once a user is authenticated. A small model "
        "otherwise answers a second request with words that sound done (\"The return has been requested\") "
        "and does nothing.")
    writes_when_determined: bool = Field(
        False, description="With a request scope: when the user's words since the last write determine every "
        "argument of exactly one write they asked for (the ids the toolkit's mentions hook finds, the one choice "
        "they say) and its dry run passes, the graph states that write for confirmation instead of waiting "
        "for the model, which may keep reading instead (agentspec.graph.determined).")
    identity_request: str | None = Field(
        None, description="Said by the graph instead of the model's reply while nobody is authenticated and the "
        "user has given nothing an auth tool could be called with (no email; no name dictated with a zip code: "
        "agentspec.graph.identity): the only useful reply then is asking who they are. Unset: the model's reply "
        "stands.")
    request_question: str | None = Field(
        None, description="With a request scope: said by the graph, once, when a user is authenticated and "
        "nothing they said so far reads as a request (\"Hi, I need some help with an order\"). A model trained "
        "on customers who open with their request otherwise guesses one and acts on it. Unset: the model decides.")


class LimitsSpec(_Strict):
    max_steps_per_turn: int = Field(8, ge=1, description="Model steps in one turn before the graph stops it.")
    max_calls_per_step: int = Field(1, ge=1, le=8, description="Tool calls in one step (1: one at a time).")
    max_repeated_calls: int = Field(1, ge=0, description="Identical calls refused in a turn before it ends.")
    context_budget: int = Field(4096, ge=256, description="Tokens the prompt may use (capped by the context).")
    max_observation_chars: int = Field(4000, ge=100, description="Longer tool observations are cut.")
    keep_observations: int = Field(3, ge=1, description="Most recent observations never compacted first.")


class GenerationSpec(_Strict):
    max_tokens: int = Field(384, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    seed: int = 0

    def settings(self) -> GenerationSettings:
        return GenerationSettings(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                                  top_k=self.top_k, seed=self.seed)


class DecodingSpec(_Strict):
    mode: Literal["auto", "grammar", "validate"] = "auto"
    max_attempts: int = Field(3, ge=1)


class AgentSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    model: ModelSpec = Field(default_factory=ModelSpec)
    adapters: list[AdapterSpec] = Field(default_factory=list)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    toolkits: list[ToolkitSpec] = Field(min_length=1)
    prompts: PromptsSpec = Field(default_factory=PromptsSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    decoding: DecodingSpec = Field(default_factory=DecodingSpec)
    # Where the spec was read from: relative paths inside it are resolved against this folder.
    _base_dir: Path | None = PrivateAttr(None)
    _source: str | None = PrivateAttr(None)

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    @property
    def source(self) -> str:
        """The file the spec was read from ('' for a spec built in code)."""
        return self._source or ""

    def resolve_path(self, path: str) -> Path:
        p = Path(os.path.expandvars(path)).expanduser()
        return p if p.is_absolute() or self._base_dir is None else self._base_dir / p


@dataclass(frozen=True)
class SpecProblem:
    """One problem: ``path`` is the dotted field path (``policy.requires_user[2]``), '' for the file."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(spec)'}: {self.message}"


class SpecError(AgentSpecError):
    """A spec that cannot be found, parsed or validated; ``problems`` lists every one."""

    code = "invalid_spec"

    def __init__(self, source: str, problems: list[SpecProblem]):
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid agent spec {source}:\n{lines}",
                         hint=f"Fix the fields listed; `agentspec validate {source}` checks again.")
        self.problems = problems


# ---- finding --------------------------------------------------------------------------------------

def _specs_dir() -> Path:
    return Path(str(files("agentspec") / "specs"))


def packaged_specs() -> list[str]:
    """Names of the specs shipped in the package."""
    return sorted(p.stem for p in _specs_dir().glob("*.yaml"))


def find_spec(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """A path to an existing file, or a packaged spec's name (``retail``); None means the default."""
    text = str(name_or_path or DEFAULT_SPEC)
    path = Path(text).expanduser()
    if path.is_file():
        return path.resolve()
    packaged = _specs_dir() / f"{text}.yaml"
    if os.sep not in text and packaged.is_file():
        return packaged
    raise SpecError(text, [SpecProblem("", f"no spec file {text!r} and no packaged spec of that name "
                                           f"(packaged: {', '.join(packaged_specs()) or 'none'})")])


# ---- checking -------------------------------------------------------------------------------------

def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def spec_toolkit_names(spec: AgentSpec) -> tuple[dict[str, list[str]], list[SpecProblem]]:
    """Tool names per toolkit, without building the toolkits where a factory declares ``tool_names``."""
    from agentspec.toolkit import ENTRY_POINT_GROUP, available_toolkits
    from importlib.metadata import entry_points

    names: dict[str, list[str]] = {}
    problems: list[SpecProblem] = []
    for i, tk in enumerate(spec.toolkits):
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == tk.name]
        if not found:
            problems.append(SpecProblem(f"toolkits[{i}].name", f"no toolkit named {tk.name!r} "
                                        f"(installed: {', '.join(available_toolkits()) or 'none'})"))
            continue
        factory = found[0].load()
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        if params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            for key in tk.config:
                if key not in params:
                    problems.append(SpecProblem(f"toolkits[{i}].config.{key}", f"toolkit {tk.name!r} takes no "
                                                f"option {key!r} (it takes: {', '.join(params) or 'none'})"))
        for key in ("db", "path"):
            value = tk.config.get(key)
            if isinstance(value, str) and not spec.resolve_path(value).exists():
                problems.append(SpecProblem(f"toolkits[{i}].config.{key}", f"file not found: {spec.resolve_path(value)}"))
        declared = getattr(factory, "tool_names", None)
        if declared is not None:
            names[tk.name] = list(declared)
    return names, problems


def _declared_kinds(spec: AgentSpec) -> set[str] | None:
    """Identifier kinds the spec's toolkits declare (``identifier_kinds`` on each factory); None unless all do."""
    from agentspec.toolkit import ENTRY_POINT_GROUP
    from importlib.metadata import entry_points

    kinds: set[str] = set()
    for tk in spec.toolkits:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == tk.name]
        declared = getattr(found[0].load(), "identifier_kinds", None) if found else None
        if declared is None:
            return None
        kinds |= set(declared)
    return kinds


def _routing_problems(spec: AgentSpec) -> list[SpecProblem]:
    import json

    path = spec.resolve_path(spec.routing.router or "")
    if not path.is_file():
        return [SpecProblem("routing.router", f"router file not found: {path}")]
    try:
        experts = json.loads(path.read_text(encoding="utf-8"))["experts"]
    except (ValueError, KeyError, TypeError) as exc:
        return [SpecProblem("routing.router", f"not a router file ({exc!r}): {path}")]
    missing = [e for e in experts if e not in {a.name for a in spec.adapters}]
    if missing:
        return [SpecProblem("routing.router", f"the router picks experts with no adapter of that name: "
                            f"{', '.join(missing)} (adapters: {', '.join(a.name for a in spec.adapters) or 'none'})")]
    return []


def _request_scope_problems(spec: AgentSpec, known_tools: set[str] | None) -> list[SpecProblem]:
    """The classifier loads and every request named in ``tools`` is one of its classes, with known tools."""
    scope = spec.routing.requests
    assert scope is not None
    from agentspec.train.requests import RequestClassifier  # late, and numpy only

    try:
        classes = RequestClassifier.load(spec.resolve_path(scope.classifier)).classes
    except AgentSpecError as exc:
        return [SpecProblem("routing.requests.classifier", exc.message)]
    problems = [SpecProblem(f"routing.requests.tools.{name}", f"the classifier knows no request {name!r} "
                            f"(it knows: {', '.join(c for c in classes if c != 'none')})")
                for name in scope.tools if name not in classes]
    for name, tools in scope.tools.items():
        for j, tool in enumerate(tools):
            if known_tools is not None and tool not in known_tools:
                problems.append(SpecProblem(f"routing.requests.tools.{name}[{j}]", f"unknown tool {tool!r}"))
    return problems


def _semantic_problems(spec: AgentSpec) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for i, adapter in enumerate(spec.adapters):
        if not spec.resolve_path(adapter.path).is_file():
            problems.append(SpecProblem(f"adapters[{i}].path", f"adapter file not found: {spec.resolve_path(adapter.path)}"))
        if not math.isfinite(adapter.scale):
            problems.append(SpecProblem(f"adapters[{i}].scale", "must be a finite number"))
    seen = [a.name for a in spec.adapters]
    for i, name in enumerate(seen):
        if name in seen[:i]:
            problems.append(SpecProblem(f"adapters[{i}].name", f"duplicate adapter name {name!r}"))
    if spec.routing.router is not None:
        problems += _routing_problems(spec)
    tool_names, tk_problems = spec_toolkit_names(spec)
    problems += tk_problems
    known = {t for names in tool_names.values() for t in names}
    # Tool names can be checked only when every toolkit declares its tools.
    declared = all(tk.name in tool_names for tk in spec.toolkits)
    if declared:
        policy = spec.policy
        for field in ("auth_tools", "requires_user", "requires_confirmation"):
            for j, tool in enumerate(getattr(policy, field)):
                if tool not in known:
                    problems.append(SpecProblem(f"policy.{field}[{j}]", f"unknown tool {tool!r}"))
        if policy.handoff_tool is not None and policy.handoff_tool not in known:
            problems.append(SpecProblem("policy.handoff_tool", f"unknown tool {policy.handoff_tool!r}"))
    kinds = _declared_kinds(spec) if spec.policy.writes_follow_named or spec.policy.lookups_follow_named else None
    for field in ("writes_follow_named", "lookups_follow_named"):
        for j, kind in enumerate(getattr(spec.policy, field) if kinds is not None else ()):
            if kind not in kinds:
                problems.append(SpecProblem(f"policy.{field}[{j}]", f"unknown identifier kind {kind!r} (the "
                                            f"toolkits' kinds: {', '.join(sorted(kinds))})"))
    if spec.routing.requests is not None:
        problems += _request_scope_problems(spec, known if declared else None)
    for j, tool in enumerate(spec.policy.auth_tools):
        if tool in spec.policy.requires_user:
            problems.append(SpecProblem(f"policy.auth_tools[{j}]",
                                        f"{tool!r} also requires a user: nobody could ever authenticate"))
    from agentspec.graph.prompts import find_template  # late: graph imports spec

    try:
        find_template(spec)
    except AgentSpecError as exc:
        problems.append(SpecProblem("prompts.system", exc.message))
    if spec.generation.max_tokens >= spec.model.n_ctx:
        problems.append(SpecProblem("generation.max_tokens", f"{spec.generation.max_tokens} leaves no room for "
                                    f"the prompt in a context of {spec.model.n_ctx} tokens (model.n_ctx)"))
    return problems


def _read_mapping(path: Path) -> tuple[dict[str, Any] | None, list[SpecProblem]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return None, [SpecProblem("", f"not valid YAML{where} in {path}: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return None, [SpecProblem("", "the spec must be a YAML mapping (name:, model:, toolkits:, ...)")]
    return data, []


def _absolute_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """A parent spec's relative file paths made absolute, so they keep pointing where the parent meant."""
    def fix(value: Any) -> Any:
        if isinstance(value, str) and not Path(value).is_absolute() and (base / value).exists():
            return str((base / value).resolve())
        return value

    out = dict(data)
    if isinstance(out.get("adapters"), list):
        out["adapters"] = [{**a, "path": fix(a.get("path"))} if isinstance(a, dict) else a for a in out["adapters"]]
    for section, key in (("prompts", "system"), ("model", "name"), ("routing", "router")):
        if isinstance(out.get(section), dict) and key in out[section]:
            out[section] = {**out[section], key: fix(out[section][key])}
    requests = (out.get("routing") or {}).get("requests") if isinstance(out.get("routing"), dict) else None
    if isinstance(requests, dict) and "classifier" in requests:
        out["routing"] = {**out["routing"], "requests": {**requests, "classifier": fix(requests["classifier"])}}
    return out


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``parent``: mappings merge key by key; lists and scalars are replaced whole."""
    out = dict(parent)
    for key, value in child.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _resolve_extends(data: dict[str, Any], path: Path, chain: list[Path]) -> tuple[dict[str, Any] | None,
                                                                                   list[SpecProblem]]:
    """``extends: NAME_OR_PATH``: the parent spec (packaged name or path relative to this file) under this one."""
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data, []
    if not isinstance(parent_ref, str):
        return None, [SpecProblem("extends", "must be a packaged spec name or a path to a spec file")]
    local = (path.parent / parent_ref).expanduser()
    try:
        parent_path = local.resolve() if local.is_file() else find_spec(parent_ref)
    except SpecError:
        return None, [SpecProblem("extends", f"no spec file {parent_ref!r} (relative to {path.parent}) and no "
                                  f"packaged spec of that name (packaged: {', '.join(packaged_specs())})")]
    if parent_path in chain:
        cycle = " -> ".join(p.name for p in [*chain, parent_path])
        return None, [SpecProblem("extends", f"specs extend each other in a cycle: {cycle}")]
    parent, problems = _read_mapping(parent_path)
    if parent is None:
        return None, [SpecProblem(f"extends ({parent_path.name}){'.' + p.path if p.path else ''}", p.message)
                      for p in problems]
    parent, problems = _resolve_extends(parent, parent_path, [*chain, parent_path])
    if parent is None:
        return None, problems
    return _merge(_absolute_paths(parent, parent_path.parent), data), []


def check_spec(name_or_path: str | os.PathLike[str] | None = None) -> tuple[AgentSpec | None, list[SpecProblem]]:
    """Read and validate a spec; return it (None if it does not validate) and every problem found.

    ``extends: NAME_OR_PATH`` at the top of a spec takes another spec as its base: mappings merge key
    by key, lists and scalars of the extending spec replace the base's (``adapters: []`` removes them).
    """
    path = find_spec(name_or_path)
    data, problems = _read_mapping(path)
    if data is None:
        return None, problems
    data, problems = _resolve_extends(data, path, [path])
    if data is None:
        return None, problems
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        problems = [SpecProblem(_loc(e["loc"]), e["msg"]) for e in exc.errors()]
        # Semantic checks need a valid spec; still report what can be checked on the raw data.
        return None, problems
    spec._base_dir, spec._source = path.parent, str(path)
    return spec, _semantic_problems(spec)


def load_spec(name_or_path: str | os.PathLike[str] | None = None) -> AgentSpec:
    """The validated spec, or ``SpecError`` listing every problem."""
    spec, problems = check_spec(name_or_path)
    if problems or spec is None:
        raise SpecError(str(name_or_path or DEFAULT_SPEC), problems)
    return spec


# ---- the model ------------------------------------------------------------------------------------

def adapter_options(spec: AgentSpec) -> list[dict[str, Any]]:
    """The spec's adapters as the llamacpp backend takes them (paths resolved against the spec)."""
    return [{"name": a.name, "path": str(spec.resolve_path(a.path)), "scale": a.scale} for a in spec.adapters]


def load_model(spec: AgentSpec) -> ChatModel:
    """The ChatModel ``spec.model`` names, with the spec's generation settings as its defaults."""
    from agentspec.runtime.registry import backend_class, load_model as load_backend

    m = spec.model
    cls = backend_class(m.backend)
    accepted = set(inspect.signature(cls.__init__).parameters)
    wanted = {"n_ctx": m.n_ctx, "n_threads": m.threads, "base_url": m.base_url, "device": m.device,
              "seed": m.seed, "chat_template": m.chat_template, "context_length": m.n_ctx,
              "default_settings": spec.generation.settings()}
    options = {k: v for k, v in wanted.items() if k in accepted and v is not None}
    if spec.adapters:
        if "adapters" not in accepted:
            raise AgentSpecError(
                f"spec {spec.name!r} names LoRA adapters, which the {m.backend} backend cannot apply",
                hint="Use backend: llamacpp for GGUF adapters, or serve a merged model (`agentspec train "
                "export --merged`) and drop `adapters:`.", code="adapters_unsupported")
        options["adapters"] = adapter_options(spec)
    return load_backend(m.backend, m.name, **options)
