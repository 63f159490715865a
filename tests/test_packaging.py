"""Every package folder is installed: listed in pyproject (a wheel would silently drop one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = {
    "engine": "oxbot.engine",
    "storage": "oxbot.storage",
    "tui": "oxbot.tui",
    "themes": "oxbot.themes",
    "app": "oxbot.app",
    "cli": "oxbot.cli",
    "remote": "oxbot.remote",
}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, name in ROOTS.items():
        assert config["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), f"add to pyproject packages: {sorted(found - listed)}"
    assert listed - found == set(), f"listed but missing: {sorted(listed - found)}"
