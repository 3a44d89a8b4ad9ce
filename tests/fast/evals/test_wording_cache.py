"""A wording family file is parsed once per content version: the same file answers the same object,
and a file changed on disk is read again (suite generation and the scripted users load it per task)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agentspec.evals.wording import WordingError, load_family

CEDAR = Path(__file__).resolve().parents[3] / "evals" / "wordings" / "cedar.yaml"


def test_a_family_file_is_parsed_once_and_read_again_when_it_changes(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(CEDAR.read_text(encoding="utf-8"), encoding="utf-8")
    first = load_family(path)
    assert load_family(path) is first and load_family(str(path)) is first
    text = path.read_text(encoding="utf-8").replace("cancel:\n", 'cancel:\n  - "Drop {o} now, {why}."\n', 1)
    path.write_text(text, encoding="utf-8")
    again = load_family(path)
    assert again is not first and again["cancel"][0] == "Drop {o} now, {why}."
    assert again["cancel"][1:] == first["cancel"]


def test_a_broken_family_file_is_an_error_every_time_and_its_fix_is_read(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ncancel: [\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(WordingError, match="not valid YAML"):
            load_family(path)
    path.write_text(CEDAR.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_family(path).has("cancel")
