"""The static checks are part of the suite: lint, format, the layer contracts, strict types.

Each runs `.ci/lint <check>` (the same script a developer runs) in a subprocess with this
interpreter's environment, so CI's one test command covers them all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("check", ["ruff", "format", "imports", "types"])
def test_static_check_passes(check: str) -> None:
    env = {**os.environ, "OXBOT_VENV": str(Path(sys.executable).parent.parent)}
    proc = subprocess.run(
        [str(ROOT / ".ci" / "lint"), check],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, f".ci/lint {check} failed:\n{proc.stdout}\n{proc.stderr}"
