"""``agentspec retrieval``: build and search the index of a domain's documents. Docstrings are the help.

The index lives in ``HOME/retrieval`` (``--home``, default ``$AGENTSPEC_HOME``, else
``~/.cache/agentspec``). Documents come from the toolkit's ``documents(data_dir) -> list[Document]``
hook (``--toolkit``, default retail), or with ``--toolkit files`` from every ``*.md``/``*.txt`` file under
``--data``. ``index --json`` prints, last, one JSON object: ``added``, ``changed``, ``removed``,
``unchanged`` (document sources), ``documents``, ``passages``, ``index`` and, with ``--perplexity``,
``perplexity`` (``staleness.monitor_documents``' result). ``search --json`` prints a JSON list of
``{source, score, text}``.

Not here: the index itself (``agentspec.memory.documents``), answering questions (``eval docqa``).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import click

from agentspec.errors import AgentSpecError

__all__ = ["retrieval_group", "index_folder", "load_documents"]


def index_folder(home: str | os.PathLike[str] | None = None) -> Path:
    """``HOME/retrieval``: ``home``, else ``$AGENTSPEC_HOME``, else ``~/.cache/agentspec``."""
    root = Path(home or os.environ.get("AGENTSPEC_HOME") or Path.home() / ".cache" / "agentspec").expanduser()
    return root / "retrieval"


def load_documents(toolkit: str, data: Path) -> list[Any]:
    """The documents of ``data``: the toolkit's ``documents`` hook, or plain files for ``files``."""
    from agentspec.memory.documents import Document

    if not data.is_dir():
        raise AgentSpecError(f"data folder {data} does not exist", hint="Pass --data DIR of the toolkit's data.",
                             code="retrieval_input")
    if toolkit == "files":
        paths = sorted(p for p in data.rglob("*") if p.suffix in (".md", ".txt") and p.is_file())
        if not paths:
            raise AgentSpecError(f"no .md or .txt file under {data}", hint="Point --data at a folder of documents.",
                                 code="retrieval_input")
        return [Document(str(p.relative_to(data)), p.read_text(encoding="utf-8")) for p in paths]
    from agentspec.toolkit import toolkit_factory

    build = getattr(toolkit_factory(toolkit), "documents", None)
    if build is None:
        raise AgentSpecError(f"toolkit {toolkit!r} offers no documents (no `documents` hook)",
                             hint="Use --toolkit files to index the .md/.txt files of --data.",
                             code="retrieval_input")
    return list(build(data))


def _scorer(name: str, threads: int | None) -> Any:
    """A perplexity scorer for a spec (name or YAML path) or else a model name/GGUF path."""
    from agentspec.evals.perplexity import load_scorer
    from agentspec.spec import packaged_specs

    is_spec = name in packaged_specs() or name.endswith((".yaml", ".yml"))
    return load_scorer(spec=name, threads=threads, n_ctx=4096) if is_spec else \
        load_scorer(model=name, threads=threads, n_ctx=4096)


def _remove_index(folder: Path) -> None:
    from agentspec.memory.documents import INDEX_FILE

    for suffix in ("", "-wal", "-shm"):
        (folder / f"{INDEX_FILE}{suffix}").unlink(missing_ok=True)


@click.group("retrieval")
def retrieval_group() -> None:
    """Retrieval over domain documents (policy, catalogue, FAQ): build the index, search it."""


@retrieval_group.command("index")
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The toolkit's data folder (retail: the tau2 folder with policy.md and db.json).")
@click.option("--toolkit", default="retail", show_default=True,
              help="Whose `documents` hook builds the documents; `files`: every .md/.txt under --data.")
@click.option("--home", type=click.Path(file_okay=False), help="Agent home [default: $AGENTSPEC_HOME].")
@click.option("--rebuild", is_flag=True, help="Start from an empty index (after a corrupt file or an encoder change).")
@click.option("--perplexity", "ppl", metavar="SPEC_OR_MODEL",
              help="Also score new or changed documents under this spec's (or model's) model: the perplexity monitor.")
@click.option("--flag-ratio", default=1.5, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Flag a scored document above this x the median perplexity of the indexed documents.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads of the perplexity model.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object, last.")
def index_command(data: Path, toolkit: str, home: str | None, rebuild: bool, ppl: str | None, flag_ratio: float,
                  threads: int | None, as_json: bool) -> None:
    """Index the documents of --data incrementally: only documents whose text changed are re-embedded.

    Prints which documents were added, changed, removed or unchanged. With --perplexity, each new or
    changed document is scored by the model and flagged when the model finds it surprising.
    """
    from agentspec.memory.documents import DocumentIndex

    documents = load_documents(toolkit, data)  # bad input fails before anything is touched
    folder = index_folder(home)
    if rebuild:
        _remove_index(folder)
    with DocumentIndex.open(folder) as index:
        report: dict[str, Any] = index.update(documents)
        stats = index.stats()
        if ppl:
            from agentspec.evals.staleness import monitor_documents

            show = (lambda s, v: None) if as_json else (lambda s, v: click.echo(f"  perplexity {v:9.3f}  {s}"))
            report["perplexity"] = monitor_documents(index, documents, _scorer(ppl, threads), ratio=flag_ratio,
                                                     on_document=show)
    report |= {"documents": stats["documents"], "passages": stats["passages"], "index": stats["file"]}
    if as_json:
        click.echo(json.dumps(report))
        return
    for kind in ("added", "changed", "removed", "unchanged"):
        click.echo(f"{kind:>9}: {len(report[kind])}" + (f"  ({', '.join(report[kind])})" if report[kind] else ""))
    click.echo(f"index {stats['file']}: {stats['documents']} documents, {stats['passages']} passages")
    monitor = report.get("perplexity")
    if monitor:
        median = "-" if monitor["median"] is None else f"{monitor['median']:.3f}"
        click.echo(f"perplexity under {monitor['model']}: median {median} over {len(monitor['documents'])} documents; "
                   f"flagged (> {flag_ratio} x median): {', '.join(monitor['flagged']) or 'none'}")


@retrieval_group.command("search")
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="Passages to show.")
@click.option("--home", type=click.Path(file_okay=False), help="Agent home [default: $AGENTSPEC_HOME].")
@click.option("--json", "as_json", is_flag=True, help="Print the passages as one JSON list.")
def search_command(query: str, k: int, home: str | None, as_json: bool) -> None:
    """The K passages of the index closest in meaning to QUERY, with their source and score."""
    from agentspec.memory.documents import DocumentIndex

    folder = index_folder(home)
    with DocumentIndex.open(folder) as index:
        if len(index) == 0:
            raise AgentSpecError(f"the retrieval index in {folder} is empty",
                                 hint="Build it first: agentspec retrieval index --data DIR", code="retrieval_empty")
        hits = index.search(query, k=k)
    if as_json:
        click.echo(json.dumps([{"source": p.source, "score": round(p.score, 4), "text": p.text} for p in hits]))
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for rank, p in enumerate(hits, start=1):
        click.echo(f"[{rank}] {p.score:.3f}  {p.source}")
        body = " ".join(p.text.split("\n", 1)[-1].split())
        click.echo(f"    {body[:max(40, width - 6)]}")
