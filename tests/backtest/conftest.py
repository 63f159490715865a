"""Helpers for the backtest tests: generated candles, CSV writing, an in-process CLI runner and
the independent bar-by-bar reference of the issue's parity semantics."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_OHLCV = REPO.parent / "shared" / "data" / "ohlcv"
HEADER = "timestamp,open,high,low,close,volume"


def generated_candles(n: int, seed: int = 7, step_ms: int = 3_600_000) -> pd.DataFrame:
    """A seeded random walk with trends, so SMA crosses happen often."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 0.004, n // 50 + 1), 50)[:n]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * step_ms
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_.round(4),
            "high": high.round(4),
            "low": low.round(4),
            "close": close.round(4),
            "volume": rng.uniform(1, 100, n).round(3),
        }
    ).assign(
        high=lambda d: np.maximum(d["high"], np.maximum(d["open"], d["close"])),
        low=lambda d: np.minimum(d["low"], np.minimum(d["open"], d["close"])),
    )


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.rename(columns={"ts": "timestamp"}).to_csv(path, index=False)
    return path


def write_text(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reference_sma_cross(
    opens: Sequence[float],
    closes: Sequence[float],
    fast: int,
    slow: int,
    fee: Decimal,
    cash: Decimal = Decimal(10000),
) -> tuple[int, Decimal]:
    """The issue's reference semantics, written plainly, bar by bar, sharing no code with the
    engine. Returns (trade count, final equity)."""
    n = len(closes)
    # SMA sums in exact Decimal arithmetic: "fast > slow" is decided as
    # sum_fast * slow > sum_slow * fast, so an exact tie is a tie, not float noise.
    dec = [Decimal(repr(c)) for c in closes]

    def window_sum(length: int, i: int) -> Decimal | None:
        return sum(dec[i + 1 - length : i + 1], Decimal(0)) if i + 1 >= length else None

    def cmp(i: int) -> int | None:
        fs, ss = window_sum(fast, i), window_sum(slow, i)
        if fs is None or ss is None:
            return None
        left, right = fs * slow, ss * fast
        return (left > right) - (left < right)

    units = Decimal(0)
    trades = 0
    pending: str | None = None  # decided at a close, filled at the next open
    for i in range(n):
        if pending is not None:  # fill at this bar's open
            price = Decimal(repr(opens[i]))
            if pending == "buy":
                units = (cash / (price * (1 + fee))).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
                cash -= units * price * (1 + fee)
            else:
                cash += units * price * (1 - fee)
                units = Decimal(0)
                trades += 1
            pending = None
        if i == 0 or i == n - 1:
            continue  # no previous bar to compare; no next open to fill at
        before, now = cmp(i - 1), cmp(i)
        if before is None or now is None:
            continue
        if units == 0 and before < 0 and now > 0:  # fast crossed strictly above slow
            pending = "buy"
        elif units > 0 and before > 0 and now < 0:  # fast crossed strictly below slow
            pending = "sell"
    if units > 0:  # still open: closed at the last close, and counted
        cash += units * Decimal(repr(closes[-1])) * (1 - fee)
        trades += 1
    return trades, cash


CliRunner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run `oxbot backtest ...` in process through the real parser and error mapping; returns
    (exit code, stdout, stderr)."""
    from oxbot.cli import backtest as cli_backtest
    from oxbot.cli.errors import run_handler
    from oxbot.cli.main import _Parser

    def run(*argv: str) -> tuple[int, str, str]:
        parser = _Parser(prog="oxbot")
        sub = parser.add_subparsers(dest="command", parser_class=_Parser)
        cli_backtest.register(sub)
        capsys.readouterr()
        try:
            args: argparse.Namespace = parser.parse_args(["backtest", *argv])
            code = run_handler(args.handler, args)
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def bt() -> object:
    """The helpers above, as a fixture (importlib mode cannot import conftest by name)."""
    import types

    return types.SimpleNamespace(
        generated_candles=generated_candles,
        write_csv=write_csv,
        write_text=write_text,
        reference=reference_sma_cross,
        shared=SHARED_OHLCV,
    )
