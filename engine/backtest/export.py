"""CSV exports of a backtest: the trade ledger and the equity curve."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from .ledger import Trade

TRADE_FIELDS = ("entry_ts", "exit_ts", "entry_price", "exit_price", "qty", "pnl", "fees",
                "reason")


def _writable(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory; give a file name such as {p / 'out.csv'}")
    if not p.parent.exists():
        raise UsageError(f"{p.parent} does not exist; create the folder first")
    return p


def write_trades(path: str | Path, trades: list[Trade]) -> None:
    """One row per closed trade; money written exactly as the Decimal ledger holds it."""
    p = _writable(path)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TRADE_FIELDS)
        for t in trades:
            w.writerow((t.entry_ts, t.exit_ts, t.entry_price, t.exit_price, t.qty, t.pnl, t.fees,
                        t.reason))


def write_equity(path: str | Path, ts: np.ndarray, equity: np.ndarray) -> None:
    """One row per bar: the candle's open time and the equity marked at its close."""
    p = _writable(path)
    pd.DataFrame({"ts": ts, "equity": equity}).to_csv(p, index=False, float_format="%.8f")
