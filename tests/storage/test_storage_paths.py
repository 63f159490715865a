"""Where files go: OXBOT_HOME redirects everything; OXBOT_DB and --db pick the database."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from oxbot.storage import paths


def test_oxbot_home_redirects_every_folder(oxbot_home: Path) -> None:
    assert paths.data_dir() == oxbot_home / "data"
    assert paths.config_dir() == oxbot_home / "config"
    assert paths.runtime_dir() == oxbot_home / "run"
    assert paths.log_dir() == oxbot_home / "log"
    for d in ("data", "config", "run", "log"):
        assert (oxbot_home / d).is_dir()


def test_runtime_dir_is_owner_only_even_if_it_was_open(oxbot_home: Path) -> None:
    (oxbot_home / "run").mkdir(parents=True)
    (oxbot_home / "run").chmod(0o777)
    assert stat.S_IMODE(paths.runtime_dir().stat().st_mode) == 0o700


def test_db_path_precedence(
    oxbot_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert paths.default_db_path() == oxbot_home / "data" / "oxbot.db"
    assert paths.resolve_db_path(None) == oxbot_home / "data" / "oxbot.db"
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "env.db"))
    assert paths.resolve_db_path(None) == tmp_path / "env.db"
    assert paths.resolve_db_path(str(tmp_path / "cli.db")) == tmp_path / "cli.db"
    assert paths.resolve_db_path("~/x.db") == Path.home() / "x.db"


def test_without_oxbot_home_platform_dirs_are_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OXBOT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    if sys.platform.startswith("linux"):
        assert paths.data_dir() == tmp_path / "xdg-data" / "oxbot"


def test_paths_import_is_cheap() -> None:
    code = (
        "import sys, oxbot.storage.paths, oxbot.storage;"
        "print(sorted(m for m in ('sqlalchemy', 'aiosqlite', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "[]"
