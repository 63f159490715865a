"""`oxbot run --lease-ttl`: a bound a user can live with, refused in words before anything
starts (adversary F12: `inf` crashed with a crash log; 1e9 was taken, so a crashed engine's
bots would never be taken over). A subprocess with a deadline: a value that is wrongly taken
starts an engine that runs until killed, which fails the test instead of hanging it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("value", ["inf", "1e9", "nan", "0.5", "-1"])
def test_a_lease_ttl_out_of_bounds_is_refused_with_the_range(tmp_path: Path, value: str) -> None:
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    env.pop("OXBOT_DB", None)
    argv = [sys.executable, "-m", "oxbot.cli.main", "run", "--headless", f"--lease-ttl={value}"]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"--lease-ttl={value} was taken: an engine started")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--lease-ttl must be 1 to 3600 seconds" in done.stderr
    assert "Traceback" not in done.stderr
