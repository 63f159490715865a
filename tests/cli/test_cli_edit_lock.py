"""`oxbot bots edit` takes a per-database lock (cli/control.py ``edit_lock``, adv14 C1): while
another edit holds it, an edit waits, then refuses (exit 1) without changing anything; once it
is free, the edit goes through. flock locks belong to an open file description, so a second
open in this same process conflicts like another process would (flock(2))."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from oxbot.cli import control

from .conftest import Run


def _params(oxbot: Run, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "bots.json"
    assert oxbot("bots", "export", "--out", str(out))[0] == 0
    (bot,) = json.loads(out.read_text())
    return dict(bot["params"])


def test_an_edit_waits_for_another_then_refuses_and_changes_nothing(
    oxbot: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert oxbot("bots", "add", "a", "--param", "fast=2", "--param", "slow=8")[0] == 0
    monkeypatch.setattr(control, "EDIT_WAIT_S", 0.3)
    with control.edit_lock(argparse.Namespace(db=None)):  # the default database, as the CLI's
        code, out, err = oxbot("bots", "edit", "a", "--param", "slow=7")
    assert code == 1, (out, err)
    assert "another `oxbot bots edit` of this database" in err and "nothing was changed" in err
    assert _params(oxbot, tmp_path) == {"fast": 2, "slow": 8}
    code, out, err = oxbot("bots", "edit", "a", "--param", "slow=7")
    assert code == 0, (out, err)
    assert _params(oxbot, tmp_path) == {"fast": 2, "slow": 7}
