"""CPU time to the cockpit's first frame and to its engine running, for a shared, noisy machine.

    .venv/bin/python bench/first_frame_cpu.py [--python PY ...] [--runs 9] [--engine]

bench/first_screen.py times plain `oxbot` by the wall clock, which on a loaded machine mostly
measures the wait for a core. This bench runs the same start (plain `oxbot`, in tmux 120x40, on
a home whose database and demo bots a first, unmeasured launch created) with a small shim that
records the process's CPU time (`time.process_time()`) and wall time since exec:

- at `App.run` (the imports and checks before the UI are done);
- when `OxbotApp._start_engine` runs, i.e. right after the first refresh (tui/app.py's
  `call_after_refresh`): "first frame"; the app exits there;
- with --engine, instead, when `EngineHost.start` returns (the engine built, its first snapshot
  sent, the heap settled): "engine runs"; the app exits there.

The shim patches those names when oxbot.tui.app is imported, so the cockpit's own import order
is kept. Several --python interpreters (one per checkout's venv) are measured alternately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from first_screen import BOTS_SHOWN, FIRST_FRAME, Tmux, gone, timed  # noqa: E402

SHIM = r"""
import json, os, sys, time
t0, c0 = time.perf_counter(), time.process_time()
with open("/proc/self/stat") as f:
    start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
with open("/proc/uptime") as f:
    since_exec = float(f.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
out, engine = os.environ["FFC_OUT"], os.environ.get("FFC_ENGINE") == "1"
marks, apps = {"start": [since_exec, c0]}, []

def mark(name):
    marks[name] = [time.perf_counter() - t0 + since_exec, time.process_time()]

def done():
    with open(out, "w") as f:
        f.write(json.dumps(marks))

import importlib.abc, importlib.machinery

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "oxbot.tui.app":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            app = module.OxbotApp
            run, mount = app.run, app.on_mount

            def app_run(self, *a, **k):
                mark("app_run")
                return run(self, *a, **k)

            def on_mount(self):
                apps.append(self)
                mount(self)

            app.run, app.on_mount = app_run, on_mount
            if not engine:
                def first_frame(self):
                    mark("end")
                    done()
                    self.exit(0)
                app._start_engine = first_frame
            else:
                import oxbot.tui.hosting as hosting
                start = hosting.EngineHost.start

                def host_start(self, listener):
                    start(self, listener)
                    mark("end")
                    done()
                    apps[0].call_from_thread(apps[0].exit, 0)
                hosting.EngineHost.start = host_start

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
sys.argv = ["oxbot"]
import runpy
runpy.run_module("oxbot.cli.main", run_name="__main__")
"""


def launch(py: str, home: Path, shim: Path, engine: bool, timeout: float = 60.0) -> dict:
    out = home.parent / f"out-{uuid.uuid4().hex[:8]}.json"
    tmux = Tmux()
    env = f"env OXBOT_HOME={home} FFC_OUT={out} FFC_ENGINE={int(engine)}"
    pid = None
    try:
        tmux("new-session", "-d", "-s", "s", "-x", "120", "-y", "40", f"{env} {py} {shim}")
        pid = tmux.pane_pid()
        end = time.monotonic() + timeout
        while not out.exists() or not out.stat().st_size:
            if time.monotonic() > end:
                raise TimeoutError(f"{py}: no mark after {timeout} s")
            time.sleep(0.01)
        gone(pid, 15.0)  # the app exits itself; its engine (if any) releases the database
    finally:
        tmux.kill()
        gone(pid)
    time.sleep(0.05)
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter(s) with oxbot installed")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--engine", action="store_true", help="until the engine runs, not the frame")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 2
    pythons = args.python or [sys.executable]
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    what = "the engine runs" if args.engine else "the first frame"
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}; runs={args.runs}; until {what}"
    )
    results: dict[str, list[dict]] = {py: [] for py in pythons}
    with tempfile.TemporaryDirectory(prefix="oxbot-ffc-") as tmp:
        shim = Path(tmp) / "shim.py"
        shim.write_text(SHIM, encoding="utf-8")
        homes = {}
        for i, py in enumerate(pythons):
            homes[py] = Path(tmp) / f"home{i}"
            homes[py].mkdir()
            # creates the database and the demo bots, and writes the .pyc files
            timed(f"env OXBOT_HOME={homes[py]} {py} -m oxbot.cli.main", [FIRST_FRAME, BOTS_SHOWN])
            launch(py, homes[py], shim, args.engine)
        for _ in range(args.runs):
            for py in pythons:
                results[py].append(launch(py, homes[py], shim, args.engine))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(
        "| python | CPU s at App.run | CPU s at the end, median (min–max) "
        "| wall s since exec at the end, median (min–max) |"
    )
    print("|---|---:|---:|---:|")
    for py, runs in results.items():
        run_cpu = statistics.median(r["app_run"][1] for r in runs)
        cpu = [r["end"][1] for r in runs]
        wall = [r["end"][0] for r in runs]
        print(
            f"| {py} | {run_cpu:.3f} | {statistics.median(cpu):.3f} "
            f"({min(cpu):.3f}–{max(cpu):.3f}) | {statistics.median(wall):.3f} "
            f"({min(wall):.3f}–{max(wall):.3f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
