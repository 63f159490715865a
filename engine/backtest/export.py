"""CSV exports of a backtest: the trade ledger and the equity curve.

Money is written as exact decimal text, quantised to the quote currency's sensible unit (cents
for USD-like quotes, 8 decimals otherwise), quantities to 8 decimals, prices as the candles gave
them: no float noise such as ``1234.5600000000001``. A path of ``-`` means standard output.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TextIO

import numpy as np

from ..arrays import Floats, Times
from ..errors import UsageError
from .ledger import Trade

TRADE_FIELDS = ("entry_ts", "exit_ts", "entry_price", "exit_price", "qty", "pnl", "fees", "reason")
QTY_Q = Decimal("0.00000001")
CENTS = Decimal("0.01")
# Quotes whose smallest useful unit is a cent; anything else (BTC, ETH, ...) keeps 8 decimals.
CENT_QUOTES = frozenset(
    {
        "USD",
        "USDT",
        "USDC",
        "BUSD",
        "FDUSD",
        "TUSD",
        "DAI",
        "EUR",
        "GBP",
        "JPY",
        "TRY",
        "BRL",
        "AUD",
        "CAD",
        "CHF",
    }
)


def money_quantum(symbol: str) -> Decimal:
    """``BTC/USDT`` → 0.01; ``ETH/BTC`` → 0.00000001."""
    quote = symbol.rpartition("/")[2].upper()
    return CENTS if quote in CENT_QUOTES else QTY_Q


def money(value: Decimal, quantum: Decimal = CENTS) -> str:
    """Exact decimal text, rounded half-even to ``quantum``; never ``-0.00``."""
    q = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
    return f"{(q if q != 0 else abs(q)):f}"


def check_writable(path: str | Path) -> Path | None:
    """The file to write, checked up front (before any long run); None for ``-`` (stdout)."""
    if str(path) == "-":
        return None
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{p} is a directory; give a file name such as {p / 'out.csv'}")
    if not p.parent.exists():
        raise UsageError(f"{p.parent} does not exist; create the folder first")
    existed = p.exists()
    try:  # a try now, not after a long run whose results would then be lost
        with p.open("a", encoding="utf-8"):
            pass
    except OSError as e:
        raise UsageError(
            f"cannot write {p}: {e.strerror or e}; give a file in a folder you can write to"
        ) from None
    if not existed:
        p.unlink(missing_ok=True)
    return p


@contextmanager
def _open(path: str | Path) -> Iterator[TextIO]:
    p = check_writable(path)
    if p is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with p.open("w", newline="", encoding="utf-8") as fh:
        yield fh


def write_trades(path: str | Path, trades: list[Trade], symbol: str = "BTC/USDT") -> None:
    """One row per closed trade, money exact (see the module docstring)."""
    mq = money_quantum(symbol)
    with _open(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(TRADE_FIELDS)
        for t in trades:
            w.writerow(
                (
                    t.entry_ts,
                    t.exit_ts,
                    f"{t.entry_price:f}",
                    f"{t.exit_price:f}",
                    money(t.qty, QTY_Q),
                    money(t.pnl, mq),
                    money(t.fees, mq),
                    t.reason,
                )
            )


def write_equity(path: str | Path, ts: Times, equity: Floats, symbol: str = "BTC/USDT") -> None:
    """One row per bar: the candle's open time and the equity marked at its close."""
    exponent = money_quantum(symbol).as_tuple().exponent
    assert isinstance(exponent, int)  # a finite quantum: 0.01 or 1e-8
    places = -exponent
    with _open(path) as fh:
        fh.write("ts,equity\n")
        # %.Nf of the float curve: cents (or 8 places) without noise, fast for 1e6 rows.
        np.savetxt(
            fh,
            np.column_stack((ts.astype(np.float64), equity)),
            fmt=("%d", f"%.{places}f"),
            delimiter=",",
        )
