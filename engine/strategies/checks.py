"""What `oxbot strategies check` (and a strategy's own test) runs: the strategy over generated
candles, its output's shape, and look-ahead: signals computed on a frame cut at row k must equal
the whole frame's signals at the same rows, since live trading only ever has the rows so far."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..market.indicators import compute
from .base import Strategy, StrategyParams
from .loader import where_failed


def generated_candles(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """Hourly candles: a random walk with cycles, so crosses, bands and RSI extremes happen."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.01, n) + 0.02 * np.sin(np.arange(n) * 2 * np.pi / 48) / 10
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    return pd.DataFrame(
        {
            "ts": 1_704_067_200_000 + np.arange(n, dtype=np.int64) * 3_600_000,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 100, n),
        }
    )


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_strategy(
    cls: type[Strategy], params: StrategyParams | None = None, n: int = 600, cuts: int = 60
) -> CheckReport:
    report = CheckReport()
    source = Path(inspect.getsourcefile(cls) or "?")
    strat = cls(params)
    candles = generated_candles(n)
    specs = strat.indicators()
    try:
        full = compute(candles, specs)
        sig = np.asarray(strat.signals(full))
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        report.errors.append(f"signals failed: {where_failed(e, source)}")
        return report
    if sig.shape != (len(full),):
        report.errors.append(
            f"signals must return one value per row ({len(full)}), got {sig.shape}"
        )
        return report
    if not set(np.unique(sig).tolist()) <= {-1, 0, 1}:
        report.errors.append("signals must be ENTER (1), EXIT (-1) or NONE (0) only")
        return report
    start = min(strat.warmup() + 1, n - 1)
    for cut in sorted(set(np.linspace(start, n - 1, cuts).astype(int).tolist())):
        try:
            part = np.asarray(strat.signals(compute(candles.iloc[:cut], specs)))
        except Exception as e:  # noqa: BLE001
            report.errors.append(f"signals failed on {cut} rows: {where_failed(e, source)}")
            return report
        bad = np.flatnonzero(part != sig[:cut])
        if bad.size:
            row = int(bad[0])
            report.errors.append(
                f"look-ahead: row {row}'s signal is {int(sig[row])} over the whole history but "
                f"{int(part[row])} when the frame ends at row {cut - 1}: signals reads rows after "
                "the one it decides (shift(-1), centered windows, whole-column statistics?)"
            )
            return report
    try:
        why = strat.explain(full, int(sig[-1]))
        if not isinstance(why, str):
            report.errors.append(f"explain must return a str, got {type(why).__name__}")
    except Exception as e:  # noqa: BLE001
        report.errors.append(f"explain failed: {where_failed(e, source)}")
    enters, exits = int((sig == 1).sum()), int((sig == -1).sum())
    report.notes.append(f"{n} generated candles: {enters} enter and {exits} exit signals")
    if enters == 0:
        report.notes.append("no ENTER signal at all on these candles: check the conditions")
    return report
