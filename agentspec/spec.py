"""The agent spec: one YAML file naming the model, adapters, toolkits, prompts, policy and limits.

Contract:
- ``AgentSpec`` is a pydantic model with ``extra="forbid"`` at every level: a misspelt key is an
  error, never silently ignored.
- ``find_spec(name_or_path)`` resolves a path (a file that exists) or a name: ``retail`` is the
  packaged ``agentspec/specs/retail.yaml``, the default of ``agentspec chat``.
- ``check_spec(name_or_path) -> (spec | None, problems)`` reports EVERY problem at once, each with its
  field path: YAML syntax, pydantic validation, then semantic checks (unknown toolkits, tool names in
  the policy that no toolkit provides, missing adapter and prompt files, a system or chat template that
  does not compile, a model file that is missing or not GGUF, limits that cannot fit the model's
  context); a spec file that is not UTF-8 is a problem too, not a traceback. ``load_spec`` raises
  ``SpecError`` listing them all. Relative paths in a spec are relative to the spec file's folder.
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

from agentspec._specfiles import chat_template_problem, chat_template_text, model_problem, read_text, template_problem
from agentspec.errors import AgentSpecError
from agentspec.runtime.base import ChatModel, GenerationSettings

__all__ = [
    "AdapterSpec", "AgentSpec", "AuthenticationSpec", "ConfirmationSpec", "DecodingSpec", "GenerationSpec",
    "HandoffSpec", "LimitsSpec", "MemorySpec", "MessagesSpec", "ModelSpec", "PolicySpec", "PromptsSpec", "SpecError", "SpecProblem",
    "RetrievalSpec", "TargetsSpec", "ToolkitSpec", "UnderstandingSpec", "DEFAULT_SPEC", "check_spec", "find_spec",
    "find_template", "load_spec", "message_problems", "load_model", "packaged_specs", "spec_toolkit_names",
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
    control_tokens: list[str] | None = Field(None, description="openai: the served model's control-token texts, "
                                             "broken in message content (default: the common chat templates').")
    device: str | None = Field(None, description="transformers: cpu or cuda.")
    seed: int = 0
    chat_template: str | None = Field(None, description="Jinja chat template (name in agentspec.prompts or path).")


class AdapterSpec(_Strict):
    name: str = Field(min_length=1)
    path: str = Field(min_length=1, description="LoRA adapter file (GGUF for llamacpp).")
    scale: float = Field(1.0, description="Adapter strength; 0 disables it.")


class RoutingSpec(_Strict):
    router: str | None = Field(None, description="Router JSON (`agentspec train router`): picks one of `adapters` "
                               "by name for each turn. Unset: the first adapter serves every turn.")


class UnderstandingSpec(_Strict):
    reader: str = Field(min_length=1, description="Folder of a trained reader (`agentspec train reader`): reads "
                        "each user message into requests, a yes/no answer, slots and choices.")
    requests: dict[str, list[str]] = Field(default_factory=dict, description="Request class -> the tools it needs. "
                                           "A tool listed here is offered only while an open request lists it, or "
                                           "while no request is open at all (the scope narrows, never strands).")
    questions: dict[str, list[str]] = Field(default_factory=dict, description="Question request -> the lookups "
                                            "whose record answers it: once the user is verified and the words "
                                            "describe exactly one such record, the graph reads it and answers with "
                                            "the toolkit's `summary` hook (a question asked before verification "
                                            "stays open until then).")
    request_threshold: float = Field(0.5, gt=0, le=1, description="A request counts at this probability.")
    answer_request_threshold: float = Field(0.8, gt=0, le=1, description="A message that answers the graph's "
                                            "question for a write's argument (its words name a value for it) opens "
                                            "a request only when a tool serves it, it is no question (`questions`) "
                                            "and it reads this probably: an "
                                            "item named in answer to \"which items?\" asks no product question.")
    yes_threshold: float = Field(0.9, gt=0, le=1, description="A stated write runs only on a yes this probable; "
                                 "a less certain reading is no confirmation (the write is stated again).")
    no_threshold: float = Field(0.6, gt=0, le=1, description="A no this probable declines the stated write.")
    neutral_threshold: float = Field(0.9, gt=0, le=1, description="A message that asks for nothing, gives nothing "
                                     "and reads this probably as neither yes nor no (thanks, goodbye) is a "
                                     "closing: messages.closing answers it where the graph has no step of its own.")
    choices: dict[str, str] = Field(default_factory=dict, description="Enumerated tool argument -> the reader's "
                                    "choice head whose labels are its values (a cancel reason).")
    choice_threshold: float = Field(0.6, gt=0, le=1, description="A choice counts at this probability.")
    slots: dict[str, str] = Field(default_factory=dict, description="Tool argument -> the reader's tag that gives "
                                  "it, where their names differ (by default a tag gives the argument of its name).")


class ToolkitSpec(_Strict):
    name: str = Field(min_length=1, description="Entry point in the agentspec.toolkits group.")
    config: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the toolkit factory.")


class PromptsSpec(_Strict):
    system: str = Field(min_length=1, description="System prompt template: packaged name or path.")
    tools: Literal["signatures", "json"] = Field(
        "signatures", description="How the tool list is shown: one signature line per tool (short; the grammar "
        "enforces the schema) or the full OpenAI JSON schema per tool.")


class AuthenticationSpec(_Strict):
    tools: list[str] = Field(default_factory=list, description="Tools whose successful result is the user id.")
    required_by: list[str] = Field(default_factory=list, description="Tools refused until a user is authenticated.")
    one_user_per_session: bool = Field(True, description="Refuse calls on another user's data (the toolkit's "
                                       "owners hook).")
    act_on_identity: bool = Field(False, description="A turn whose user words give an auth tool every value it "
                                  "needs starts with a call, not a reply.")


class ConfirmationSpec(_Strict):
    tools: list[str] = Field(default_factory=list, description="Tools that run only after the user explicitly "
                             "confirmed that very call (read by the reader's answer head).")
    report: bool = Field(False, description="After a confirmed write succeeds, the graph says it is done (the "
                         "toolkit's report hook) and ends the turn.")
    determine: bool = Field(False, description="When the user's words since the last settled request determine "
                            "every argument of exactly one write they asked for and its dry run passes, the graph "
                            "states it for confirmation instead of waiting for the model (agentspec.graph.determined).")


class HandoffSpec(_Strict):
    tool: str | None = Field(None, description="Tool that hands the user to a human.")
    determine: bool = Field(False, description="When a person is all the open requests ask for, the graph calls "
                            "the tool itself with the user's request as its one text argument.")


class TargetsSpec(_Strict):
    writes: list[str] = Field(default_factory=list, description="Identifier kinds whose value in a write must be one "
                              "the user's words since the last settled request refer to, when they refer to any.")
    lookups: list[str] = Field(default_factory=list, description="The same for lookups (tools that need no "
                               "confirmation): the model reads what the request is about.")
    said: list[str] = Field(default_factory=list, description="Kinds of writes that only the user's words can give "
                            "(of targets.writes): while they name no value of such a kind for an argument, that "
                            "write is not offered and the graph asks for it (the toolkit's ask hook), at most twice.")


class PolicySpec(_Strict):
    authentication: AuthenticationSpec = Field(default_factory=AuthenticationSpec)
    confirmation: ConfirmationSpec = Field(default_factory=ConfirmationSpec)
    handoff: HandoffSpec = Field(default_factory=HandoffSpec)
    targets: TargetsSpec = Field(default_factory=TargetsSpec)
    act_on_requests: bool = Field(False, description="With understanding: a turn whose message opens a request "
                                  "that scopes tools starts with a tool call, not a reply, once a user is known.")
    ask_for_request: bool = Field(False, description="With understanding: a verified user with no open request "
                                  "and no target named is asked what they need (messages.request_question), once.")


class MessagesSpec(_Strict):
    """What the graph itself says. The core holds no sentence of any language: each comes from the spec."""

    confirm: str | None = Field(None, description="Asks to confirm a stated write; {statement} is the statement.")
    statement: str | None = Field(None, description="States a write of a toolkit with no describe hook; {tool}, "
                                  "{arguments} (JSON).")
    reported: str | None = Field(None, description="Says a write is done (no report hook); {tool}.")
    cannot: str | None = Field(None, description="Tells why a write cannot be done; {reason} is the tool's error.")
    declined: str | None = Field(None, description="Acknowledges a stated write the user declined.")
    operator_refused: str | None = Field(None, description="Tells the user that the operator (--approve) did not "
                                         "approve a write, so it was not done; {statement} is the write's statement. "
                                         "Unset: messages.cannot, with the policy's reason.")
    not_yours: str | None = Field(None, description="Said when the model kept at another user's data (policy."
                                  "authentication.one_user_per_session); {user} is the authenticated user.")
    stopped: str | None = Field(None, description="Asks the user to say again what they want, when the graph stops "
                                "a turn itself (step limit, repeated calls, malformed steps).")
    handoff: str | None = Field(None, description="Said after the hand-off tool ran.")
    handoff_summary: str | None = Field(None, description="The hand-off's summary when the graph hands over "
                                        "itself (policy.handoff.determine); {user}, {request} (their words).")
    identity_request: str | None = Field(None, description="Said instead of the model's reply while nobody is "
                                         "authenticated and the user gave nothing an auth tool could use. Unset: "
                                         "the model's reply stands.")
    identity_not_found: str | None = Field(None, description="Said instead of the model's reply while nobody is "
                                           "authenticated and an auth tool failed in this turn. Unset: the "
                                           "model's reply stands.")
    request_question: str | None = Field(None, description="Asked once of a verified user who has asked for "
                                         "nothing yet (policy.ask_for_request).")
    remembered: str | None = Field(None, description="Said when a verified user's words were kept for later "
                                   "(memory.remember_said) and they asked for nothing else; {memory} is what was "
                                   "kept. Unset: the model replies.")
    answered: str | None = Field(None, description="Ends a turn the graph answered from the store (understanding."
                                 "questions); {answer} is the toolkit's summaries. Unset: the summaries alone.")
    closing: str | None = Field(None, description="Said to a verified user whose message is a closing "
                                "(understanding.neutral_threshold: thanks, goodbye) when the graph has no step of its "
                                "own, instead of a model step that would guess a request. Unset: the model replies.")


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


class MemorySpec(_Strict):
    path: str | None = Field(None, description="Folder of the long-term memories (default $AGENTSPEC_HOME/memory).")
    recall: int = Field(3, ge=1, le=20, description="Memories of the authenticated user recalled per turn.")
    min_score: float = Field(0.2, ge=-1.0, le=1.0, description="Cosine similarity below which a memory is not recalled.")
    remember_writes: bool = Field(True, description="Remember what the toolkit's `memories` hook draws from each "
                                  "successful confirmed write.")
    remember_said: str | None = Field(None, description="The reader's choice head that reads what a verified "
                                      "customer's words ask to keep for later (a lasting preference); each label "
                                      "but `none` is a kind the toolkit's `stated_memories` hook resolves against "
                                      "the store. Unset: nothing is remembered from words alone.")
    remember_threshold: float = Field(0.9, gt=0.0, le=1.0, description="How sure the `remember_said` head must be.")
    header: str = Field(min_length=1, description="Heads the recalled memories in the prompt (the spec's language).")


class RetrievalSpec(_Strict):
    path: str | None = Field(None, description="Folder of the document index (default $AGENTSPEC_HOME/retrieval).")
    documents: list[str] = Field(default_factory=list, description="Markdown or text files to index besides the "
                                 "toolkit's own documents (paths relative to the spec).")
    toolkit_documents: bool = Field(True, description="Index the documents the toolkit's factory offers "
                                    "(`documents(data)`: policy, catalogue, FAQ).")
    top_k: int = Field(3, ge=1, le=20, description="Passages that enter the prompt per turn.")
    min_score: float = Field(0.3, ge=-1.0, le=1.0, description="Cosine similarity below which a passage is left out.")
    header: str = Field(min_length=1, description="Heads the retrieved passages in the prompt (the spec's language).")


class AgentSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    model: ModelSpec = Field(default_factory=ModelSpec)
    adapters: list[AdapterSpec] = Field(default_factory=list)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    understanding: UnderstandingSpec | None = None
    toolkits: list[ToolkitSpec] = Field(min_length=1)
    prompts: PromptsSpec
    policy: PolicySpec = Field(default_factory=PolicySpec)
    messages: MessagesSpec = Field(default_factory=MessagesSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    decoding: DecodingSpec = Field(default_factory=DecodingSpec)
    memory: MemorySpec | None = None
    retrieval: RetrievalSpec | None = None
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

    def resolve_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """A toolkit's config with its file options (``db``, ``path``, ``store``) resolved against the spec's folder."""
        return {k: str(self.resolve_path(v)) if k in ("db", "path", "store") and isinstance(v, str) else v
                for k, v in config.items()}

    def resolve_path(self, path: str) -> Path:
        p = Path(os.path.expandvars(path)).expanduser()
        return p if p.is_absolute() or self._base_dir is None else self._base_dir / p


@dataclass(frozen=True)
class SpecProblem:
    """One problem: ``path`` is the dotted field path (``policy.authentication.required_by[2]``), '' for the file."""

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


def find_template(spec: AgentSpec) -> str:
    """The text of the spec's system template (path first, then the packaged prompts)."""
    name = spec.prompts.system
    path = spec.resolve_path(name)
    if path.is_file():
        return read_text(path, "system prompt template")
    packaged = files("agentspec.prompts") / name
    if "/" not in name and packaged.is_file():
        return read_text(packaged, "system prompt template")
    raise AgentSpecError(
        f"system prompt template {name!r} not found (looked at {path} and in agentspec/prompts)",
        hint="Give a path to a .j2 file (relative to the spec) or the name of a packaged template, "
        "e.g. retail_system.j2.", code="prompt_not_found")



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


def _understanding_problems(spec: AgentSpec, known_tools: set[str] | None) -> list[SpecProblem]:
    """The reader's files exist and know every request, choice head and tag the spec names (its
    ``reader.json`` is read; the encoder is not loaded)."""
    import json

    u = spec.understanding
    assert u is not None
    meta_path = spec.resolve_path(u.reader) / "reader.json"
    problems: list[SpecProblem] = []
    for name, tools in u.requests.items():
        for j, tool in enumerate(tools):
            if known_tools is not None and tool not in known_tools:
                problems.append(SpecProblem(f"understanding.requests.{name}[{j}]", f"unknown tool {tool!r}"))
    for name, tools in u.questions.items():
        if name not in u.requests:
            problems.append(SpecProblem(f"understanding.questions.{name}", f"{name!r} is no request of "
                                        "understanding.requests: list it there (with the tools it needs, or [])"))
        for j, tool in enumerate(tools):
            if known_tools is not None and tool not in known_tools:
                problems.append(SpecProblem(f"understanding.questions.{name}[{j}]", f"unknown tool {tool!r}"))
    try:
        heads = json.loads(meta_path.read_text(encoding="utf-8"))["heads"]
        classes = set(heads["requests"]["labels"])
        tags = {label.split("-", 1)[1] for label in heads["tags"]["labels"] if label != "O"}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return problems + [SpecProblem("understanding.reader", f"not a trained reader ({exc!r}): {meta_path}")]
    problems += [SpecProblem(f"understanding.requests.{name}", f"the reader knows no request {name!r} "
                             f"(it knows: {', '.join(sorted(classes))})") for name in u.requests if name not in classes]
    problems += [SpecProblem(f"understanding.choices.{argument}", f"the reader has no choice head {head!r} (it has: "
                             f"{', '.join(sorted(h.split('.', 1)[1] for h in heads if h.startswith('choice.'))) or 'none'})")
                 for argument, head in u.choices.items() if f"choice.{head}" not in heads]
    problems += [SpecProblem(f"understanding.slots.{argument}", f"the reader has no tag {tag!r} (it has: "
                             f"{', '.join(sorted(tags))})") for argument, tag in u.slots.items() if tag not in tags]
    said = spec.memory.remember_said if spec.memory is not None else None
    if said and f"choice.{said}" not in heads:
        problems.append(SpecProblem("memory.remember_said", f"the reader has no choice head {said!r} (retrain it with "
                                    "`agentspec train reader`, or unset remember_said)"))
    return problems


def message_problems(spec: AgentSpec) -> list[SpecProblem]:
    """Every sentence the enabled features make the graph say is given (the core has none of its own)."""
    m, policy = spec.messages, spec.policy
    needed = {"stopped": True, "confirm": bool(policy.confirmation.tools),
              "statement": bool(policy.confirmation.tools), "cannot": bool(policy.confirmation.tools),
              "declined": bool(policy.confirmation.tools), "reported": policy.confirmation.report,
              "handoff": policy.handoff.tool is not None, "request_question": policy.ask_for_request,
              "handoff_summary": policy.handoff.determine,
              "not_yours": policy.authentication.one_user_per_session and bool(policy.authentication.tools)}
    problems = [SpecProblem(f"messages.{name}", "required by the spec's policy: what the graph says there")
                for name, wanted in needed.items() if wanted and not getattr(m, name)]
    for name, fields in (("confirm", {"statement"}), ("statement", {"tool", "arguments"}), ("reported", {"tool"}),
                         ("operator_refused", {"statement"}),
                         ("cannot", {"reason"}), ("handoff_summary", {"user", "request"}),
                         ("not_yours", {"user"}), ("remembered", {"memory"})):
        text = getattr(m, name)
        if text:
            import string

            try:
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            except ValueError as exc:
                problems.append(SpecProblem(f"messages.{name}", f"not a valid template: {exc}"))
                continue
            if used - fields:
                problems.append(SpecProblem(f"messages.{name}", f"unknown placeholder(s) {sorted(used - fields)} "
                                            f"(it may use {', '.join('{' + f + '}' for f in sorted(fields))})"))
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
    policy = spec.policy
    if declared:
        for path, tools in (("authentication.tools", policy.authentication.tools),
                            ("authentication.required_by", policy.authentication.required_by),
                            ("confirmation.tools", policy.confirmation.tools)):
            for j, tool in enumerate(tools):
                if tool not in known:
                    problems.append(SpecProblem(f"policy.{path}[{j}]", f"unknown tool {tool!r}"))
        if policy.handoff.tool is not None and policy.handoff.tool not in known:
            problems.append(SpecProblem("policy.handoff.tool", f"unknown tool {policy.handoff.tool!r}"))
    kinds = _declared_kinds(spec) if policy.targets.writes or policy.targets.lookups else None
    for j, kind in enumerate(policy.targets.said):
        if kind not in policy.targets.writes:
            problems.append(SpecProblem(f"policy.targets.said[{j}]", f"{kind!r} is not in policy.targets.writes: "
                                        "only a kind the words are followed for can be asked for"))
    for field in ("writes", "lookups"):
        for j, kind in enumerate(getattr(policy.targets, field) if kinds is not None else ()):
            if kind not in kinds:
                problems.append(SpecProblem(f"policy.targets.{field}[{j}]", f"unknown identifier kind {kind!r} (the "
                                            f"toolkits' kinds: {', '.join(sorted(kinds))})"))
    if spec.understanding is not None:
        problems += _understanding_problems(spec, known if declared else None)
    elif policy.ask_for_request or policy.act_on_requests:
        problems.append(SpecProblem("understanding", "policy.ask_for_request and policy.act_on_requests read "
                                    "requests: they need an understanding block (a trained reader)"))
    for j, tool in enumerate(policy.authentication.tools):
        if tool in policy.authentication.required_by:
            problems.append(SpecProblem(f"policy.authentication.tools[{j}]",
                                        f"{tool!r} also requires a user: nobody could ever authenticate"))
    problems += message_problems(spec)
    problems += _file_problems(spec)
    if spec.generation.max_tokens >= spec.model.n_ctx:
        problems.append(SpecProblem("generation.max_tokens", f"{spec.generation.max_tokens} leaves no room for "
                                    f"the prompt in a context of {spec.model.n_ctx} tokens (model.n_ctx)"))
    return problems


def _file_problems(spec: AgentSpec) -> list[SpecProblem]:
    """The files the spec names: the system template compiles and renders, the chat template compiles,
    the model file exists and is a GGUF (``agentspec._specfiles``), the retrieval documents exist."""
    problems: list[SpecProblem] = []
    try:
        source = find_template(spec)
    except AgentSpecError as exc:
        problems.append(SpecProblem("prompts.system", exc.message))
    else:
        # Rendered as SystemPrompt renders it, before and after authentication.
        variables = [{"tools": "(the tools)", "user_id": user, "spec": spec} for user in (None, "user_1")]
        problem = template_problem(source, variables)
        if problem:
            problems.append(SpecProblem("prompts.system", f"{problem} ({spec.prompts.system})"))
    if spec.model.chat_template:
        try:
            problem = chat_template_problem(chat_template_text(spec.model.chat_template, spec.resolve_path))
        except AgentSpecError as exc:
            problem = exc.message
        if problem:
            problems.append(SpecProblem("model.chat_template", problem))
    problem = model_problem(spec.model.backend, spec.model.name)
    if problem:
        problems.append(SpecProblem("model.name", problem))
    for index, name in enumerate(spec.retrieval.documents if spec.retrieval else []):
        if not spec.resolve_path(name).is_file():
            problems.append(SpecProblem(f"retrieval.documents.{index}", f"no such file: {spec.resolve_path(name)}"))
    return problems


def _read_mapping(path: Path) -> tuple[dict[str, Any] | None, list[SpecProblem]]:
    try:
        data = yaml.safe_load(read_text(path, "spec file"))
    except AgentSpecError as exc:
        return None, [SpecProblem("", exc.message)]
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
    if isinstance(out.get("understanding"), dict) and "reader" in out["understanding"]:
        out["understanding"] = {**out["understanding"], "reader": fix(out["understanding"]["reader"])}
    return out


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``parent``: mappings merge key by key (an empty one clears); lists and scalars are
    replaced whole."""
    out = dict(parent)
    for key, value in child.items():
        merge = isinstance(value, dict) and value and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if merge else value
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
    chat_template = chat_template_text(m.chat_template, spec.resolve_path) if m.chat_template else None
    wanted = {"n_ctx": m.n_ctx, "n_threads": m.threads, "base_url": m.base_url, "device": m.device,
              "control_tokens": m.control_tokens,
              "seed": m.seed, "chat_template": chat_template, "context_length": m.n_ctx,
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
