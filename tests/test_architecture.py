"""ARCHITECTURE.md and the code agree: its layer list is the import-linter contract's list, and
every module and file it names exists."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "ARCHITECTURE.md").read_text()


def test_the_documented_layers_are_the_contracted_layers() -> None:
    block = DOC.split("<!-- layers:")[1].split("<!-- /layers -->")[0]
    documented = re.findall(r"^    (oxbot\.\w+)\s", block, flags=re.M)
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    assert documented == layers


def test_every_file_the_document_names_exists() -> None:
    named = set(re.findall(r"`?((?:engine|storage|tui|app|cli|remote|tests)/[\w/]+\.py)", DOC))
    assert named, "the document names no files"
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"


def test_every_module_the_document_names_imports() -> None:
    names = set(re.findall(r"\b(oxbot\.\w+)\b", DOC))
    missing = sorted(n for n in names if importlib.util.find_spec(n) is None)
    assert not missing, missing
