"""Fuzzing with hypothesis: every input a user or a file hands agentspec, 0 unhandled exceptions.

Contract:
- ``run_fuzz(cases, seed, progress=None, targets=None) -> dict`` runs ``cases`` fuzz cases in all, shared among the
  targets of ``TARGETS``, and returns ``{"fuzz_cases", "crashes", "unique_crashes", "seconds",
  "by_target": {name: {"cases", "crashes", "clear_errors", "seconds"}}, "examples": [...]}``. ``examples`` holds the
  first crash of each distinct signature (exception type and innermost project frame): the input's
  repr, the exception, the last frames of its traceback and how often it occurred. The same ``seed``
  draws the same inputs.
- A target (``Target``) is a hypothesis strategy of inputs and a ``check`` that hands one input to
  the real public entry point that reads it (``load_spec``, ``RetailStore.invoke``, ``load_tasks``,
  ``load_bfcl`` + ``run_bfcl``, ``list_sessions`` / ``read_session_trace``, ``read_episodes`` +
  ``build_report``, the REPLs' ``handle``).
- Expected outcomes: the entry point returns, or raises ``AgentSpecError`` (the documented clear
  error); a tool call returns its observation (``Error: ...`` when refused). Anything else (an
  ``AssertionError`` of a check included) is a crash: it is recorded and fuzzing goes on.

hypothesis is a dev dependency: it is imported inside the functions that use it. Everything a run
writes lives in one temporary folder (``AGENTSPEC_HOME`` points there while it runs).

Layout: ``_runner`` (the loop, stats, crash signatures, the shared context), ``_inputs`` (hostile
strategies and mutations), the targets by concept: ``_files`` (files agentspec reads) and ``_calls``
(tool arguments, REPL lines).
"""
from __future__ import annotations

from agentspec.fuzz._calls import check_repl_line, check_tool_call, repl_strategy, tool_strategy
from agentspec.fuzz._files import (
    _episode,  # noqa: F401 - the tests write episodes with it
    bfcl_strategy,
    check_bfcl_files,
    check_run_dir,
    check_session_files,
    check_spec_file,
    check_tasks_file,
    episodes_strategy,
    sessions_strategy,
    spec_strategy,
    tasks_strategy,
)
from agentspec.fuzz._runner import FuzzContext, FuzzStats, Target, fuzz_context, run_fuzz, run_target

__all__ = ["Target", "TARGETS", "FuzzContext", "FuzzStats", "fuzz_context", "run_fuzz", "run_target"]

TARGETS: list[Target] = [
    Target("spec_yaml", spec_strategy, check_spec_file),
    Target("tool_arguments", tool_strategy, check_tool_call),
    Target("tau_tasks", tasks_strategy, check_tasks_file),
    Target("bfcl_cases", bfcl_strategy, check_bfcl_files),
    Target("session_files", sessions_strategy, check_session_files),
    Target("episode_files", episodes_strategy, check_run_dir),
    Target("repl_commands", repl_strategy, check_repl_line),
]
