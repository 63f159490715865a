"""The adversarial LIVE tests run in a home of their own (settings, data, logs)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
