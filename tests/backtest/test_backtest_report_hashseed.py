"""The backtest report's charts are the same text in every process: plotext ordered a curve's
points by hash (PYTHONHASHSEED), and the equity chart's x labels of one backtest moved a
column between two runs of the same code (app/plot_order.py ``stable_plotext``, which every
plotext chart calls, the cockpit's too)."""

from __future__ import annotations

import os
import subprocess
import sys

DRAW = """
import numpy as np
from oxbot.cli.backtest_report import equity_chart
ts = np.arange(1_700_000_000_000, 1_700_000_000_000 + 500 * 3_600_000, 3_600_000)
eq = 10_000 + np.cumsum(np.sin(np.arange(500) / 7.0) * 13.3)
print(equity_chart(ts.astype(np.int64), eq, width=100))
"""


def test_the_equity_chart_does_not_depend_on_the_hash_seed() -> None:
    # seeds 1, 2, 4 and 3, 5 drew two different x label rows before the fix
    charts = set()
    for seed in ("1", "3", "5"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", DRAW], capture_output=True, text=True, env=env, check=True
        )
        assert "2023-11-30" in out.stdout
        charts.add(out.stdout)
    assert len(charts) == 1
