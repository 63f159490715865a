"""What everyday commands import on an existing database (bench/RESULTS.md, "Session 24: CLI
commands"): every command pays its imports, and the suite runs hundreds of them. No pandas nor
numpy (a strategy's parameters and warm-up are read without computing an array), no alembic
(the stored revision is read with a plain query; alembic only creates or upgrades a database),
no engine (engine/engine.py) and no engine/messages.py (~120 dataclasses) when no engine is
running to be sent one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import contextlib, io, json, sys
from oxbot.cli.main import main
codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            codes.append(main(argv))
        except SystemExit as e:
            codes.append(e.code)
print(json.dumps([codes, sorted(sys.modules)]))
"""
NEVER = {
    "pandas",
    "numpy",
    "alembic",
    "oxbot.engine.engine",
    "oxbot.engine.messages",
    "textual",
    "ccxt",
}


def _run(home: Path, *commands: list[str]) -> tuple[list[int], set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "OXBOT_HOME": str(home)},
    )
    codes, modules = json.loads(out.stdout.strip().splitlines()[-1])
    return codes, set(modules)


def test_everyday_commands_import_neither_numpy_alembic_nor_the_engine(tmp_path: Path) -> None:
    codes, modules = _run(tmp_path, ["bots", "add", "a", "--strategy", "sma_cross"])
    assert codes == [0]
    assert "alembic" in modules  # a new database is created through alembic's revisions

    codes, modules = _run(
        tmp_path,
        ["bots", "add", "b", "--strategy", "sma_cross"],
        ["bots", "edit", "a", "--param", "fast=5"],
        ["bots", "start", "b"],
        ["bots", "stop", "b"],
        ["bots", "delete", "b"],
    )
    assert codes == [0, 0, 0, 0, 0]
    assert not modules & NEVER, sorted(modules & NEVER)

    codes, modules = _run(
        tmp_path,
        ["bots", "list", "--json"],
        ["bots", "export"],
        ["trades"],
        ["positions"],
        ["equity", "a"],
        ["status"],  # no engine running: says so (exit 1)
    )
    assert codes == [0, 0, 0, 0, 0, 1]
    assert not modules & NEVER, sorted(modules & NEVER)
