"""One reader from the heads of two: each head kept from the reader whose record on it is known.

Every head of a reader is its own small network over the same frozen MiniLM features, so heads of two
readers trained on the same encoder and features combine freely. ``merge_readers(base, donor, heads,
out)`` writes to ``out`` the ``base`` reader with the named ``heads`` taken from ``donor``: for
instance the slot, request and choice heads of a reader trained on more wording families, with the
yes/no head of one whose false-yes record is known (a false yes runs a write nobody approved).

``reader.json`` records, per head, the training it came from (``heads.<name>.trained_on``); the
reader-wide ``trained_on`` is the base's. A choice head the base lacks is added (a new reading, e.g.
``choice.remember``), and so is a tuned answer member (``agentspec.train.answer_tuning``), which brings
its tuned encoder layers along; a donor with another encoder or other features, a head the donor lacks,
or another head the base lacks is a ``ReaderError`` naming it. ``out`` is written whole or not at all.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.routing.reader import TUNED_PREFIX
from agentspec.train.reader import ReaderError

__all__ = ["merge_readers"]


def _load(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta_path, weights_path = folder / "reader.json", folder / "reader.npz"
    if not meta_path.is_file() or not weights_path.is_file():
        raise ReaderError(f"no reader at {folder} (it needs reader.json and reader.npz)",
                          hint="Train one with `agentspec train reader --data DIR --out DIR`.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    with np.load(weights_path) as arrays:
        return meta, {name: np.asarray(arrays[name]) for name in arrays.files}


def merge_readers(base: str | Path, donor: str | Path, heads: list[str], out: str | Path) -> dict[str, Any]:
    """Write ``base`` with ``heads`` from ``donor`` to ``out`` (module doc); returns the new reader.json."""
    base_dir, donor_dir, out_dir = Path(base), Path(donor), Path(out)
    base_meta, base_arrays = _load(base_dir)
    donor_meta, donor_arrays = _load(donor_dir)
    for key in ("encoder", "features"):
        if base_meta.get(key) != donor_meta.get(key):
            raise ReaderError(f"{donor_dir} has {key} {donor_meta.get(key)!r}, {base_dir} has {base_meta.get(key)!r}: "
                              "their heads read different features", hint="merge readers trained on the same encoder")
    if not heads:
        raise ReaderError("no head to take from the donor", hint=f"name some of {', '.join(donor_meta['heads'])}")
    meta = json.loads(json.dumps(base_meta))
    arrays = dict(base_arrays)
    for name in meta["heads"]:
        meta["heads"][name].setdefault("trained_on", base_meta.get("trained_on"))
    for name in heads:
        if name not in donor_meta["heads"]:
            raise ReaderError(f"head {name!r} is not in {donor_dir}",
                              hint=f"its heads: {', '.join(donor_meta['heads'])}")
        tuned = donor_meta["heads"][name].get("encoder") == "tuned"
        if name not in base_meta["heads"] and not name.startswith("choice.") and not tuned:
            raise ReaderError(f"head {name!r} is not in both readers (only a choice head or a tuned answer may be added)",
                              hint=f"heads: {', '.join(base_meta['heads'])}")
        if name in base_meta["heads"] and donor_meta["heads"][name]["labels"] != base_meta["heads"][name]["labels"]:
            raise ReaderError(f"head {name!r} has other labels in {donor_dir}", hint="merge readers of one label set")
        own = (f"{name}.", f"{TUNED_PREFIX}{name}.")  # the head's weights, and a tuned member's layers
        arrays = {k: v for k, v in arrays.items() if not k.startswith(own)}
        arrays.update({k: v for k, v in donor_arrays.items() if k.startswith(own)})
        record = donor_meta["heads"][name].get("trained_on", donor_meta.get("trained_on"))  # a merged donor's own
        meta["heads"][name] = {**donor_meta["heads"][name], "trained_on": record}
    meta["merged"] = {"base": str(base_dir), "donor": str(donor_dir), "heads_from_donor": list(heads)}
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.savez(partial / "reader.npz", **arrays)
    (partial / "reader.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for extra in ("reader_report.json", "reader_report.png"):  # the base's training report, for its heads
        if (base_dir / extra).is_file():
            shutil.copy2(base_dir / extra, partial / extra)
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.replace(old)
    partial.replace(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return meta
