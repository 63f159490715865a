"""Everyday CLI commands on an existing database: CPU (user + system) and wall time of each
command as a fresh process, old and new interpreters alternating, medians of --runs.

    .venv/bin/python bench/cli_commands.py --python NEW_PY --ref-python OLD_PY [--runs 7]

Each interpreter gets its own $OXBOT_HOME (a temporary folder), initialised once, unmeasured,
with bots a and b (sma_cross) so that every command below finds what it reads; no engine runs.
PYTHONDONTWRITEBYTECODE is removed (the .pyc files a user's Python writes are written by the
unmeasured set-up runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("bots", "list", "--json"),
    ("bots", "add", "{new}", "--strategy", "sma_cross"),
    ("bots", "edit", "a", "--param", "fast={n}"),
    ("bots", "stop", "b"),
    ("trades",),
    ("status",),
)


def _run(py: str, home: Path, argv: list[str]) -> tuple[float, float, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["OXBOT_HOME"] = str(home)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [py, "-m", "oxbot.cli.main", *argv], env=env, capture_output=True, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--ref-python", required=True)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    pys = {"old": a.ref_python, "new": a.python}
    homes = {k: Path(tempfile.mkdtemp(prefix=f"oxbot-cli-{k}-")) for k in pys}
    for k, py in pys.items():  # set-up, unmeasured: the database, two bots, the .pyc files
        for argv in (["bots", "add", "a", "--strategy", "sma_cross"], ["bots", "add", "b"]):
            _run(py, homes[k], argv)
        for cmd in COMMANDS:
            _run(py, homes[k], [s.format(new="warm", n=3) for s in cmd])
    print(f"load average {os.getloadavg()}")
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    codes: dict[tuple[str, str], set[int]] = {}
    for i in range(a.runs):
        for cmd in COMMANDS:
            for k in ("old", "new") if i % 2 == 0 else ("new", "old"):
                argv = [s.format(new=f"x{i}", n=4 + i % 2) for s in cmd]
                wall, cpu, rc = _run(pys[k], homes[k], argv)
                results.setdefault((" ".join(cmd), k), []).append((wall, cpu))
                codes.setdefault((" ".join(cmd), k), set()).add(rc)
    print(f"load average {os.getloadavg()}")
    print(
        f"{'command':42} {'old cpu':>8} {'new cpu':>8} {'ratio':>6} {'old wall':>9} {'new wall':>9}"
    )
    for cmd in COMMANDS:
        name = " ".join(cmd)
        med = {
            k: (
                statistics.median(w for w, _ in results[(name, k)]),
                statistics.median(c for _, c in results[(name, k)]),
            )
            for k in pys
        }
        rcs = sorted(codes[(name, "old")] | codes[(name, "new")])
        print(
            f"{name:42} {med['old'][1]:8.3f} {med['new'][1]:8.3f} "
            f"{med['new'][1] / med['old'][1]:6.2f} {med['old'][0]:9.3f} {med['new'][0]:9.3f}"
            f"  rc {rcs}"
        )
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
