"""settle_heap: the cockpit and the daemon take their start-up heap out of the collector's full
scans (bench/RESULTS.md, UI latency). Run in a child process: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys


def test_settle_heap_freezes_the_start_up_heap_and_collects_young_objects_less_often():
    code = ("import gc\n"
            "from oxbot.tui.runtime import GC_THRESHOLDS, settle_heap\n"
            "before = gc.get_freeze_count()\n"
            "settle_heap()\n"
            "assert gc.get_freeze_count() > before + 10_000, gc.get_freeze_count()\n"
            "assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
