"""settle_heap: the cockpit and the daemon take their start-up heap out of the collector's full
scans (bench/RESULTS.md, UI latency). Run in a child process: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys


def test_settle_heap_freezes_the_start_up_heap_and_collects_young_objects_less_often():
    # and, only when the cockpit shares the process with the engine, hands the GIL over sooner
    code = (
        "import gc, sys\n"
        "from oxbot.app.runtime import GC_THRESHOLDS, SHARED_SWITCH_INTERVAL_S, settle_heap\n"
        "before = gc.get_freeze_count()\n"
        "settle_heap()\n"
        "assert gc.get_freeze_count() > before + 10_000, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()\n"
        "assert sys.getswitchinterval() == 0.005  # headless: nobody to hand the lock to\n"
        "settle_heap(share_with_ui=True)\n"
        "assert sys.getswitchinterval() == SHARED_SWITCH_INTERVAL_S\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
