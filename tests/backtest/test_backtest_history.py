"""History download paging (a scripted in-process exchange, no network) and the real entry
point in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oxbot.engine.backtest.history import fetch_history, parse_date
from oxbot.engine.errors import DataError, TemporaryError, UsageError

HOUR = 3_600_000
START = 1_704_067_200_000  # 2024-01-01 00:00 UTC


class ScriptedExchange:
    """fetch_ohlcv like ccxt: at most ``limit`` rows from ``since``; fails once on demand."""

    id = "scripted"

    def __init__(self, bars: int, fail_first: bool = False) -> None:
        self.rows = [
            [START + i * HOUR, 100 + i, 101 + i, 99 + i, 100.5 + i, 1.0] for i in range(bars)
        ]
        self.calls: list[int] = []
        self.fail_first = fail_first

    async def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int) -> list:
        self.calls.append(since)
        if self.fail_first:
            self.fail_first = False
            raise TimeoutError("read timed out")
        return [r for r in self.rows if r[0] >= since][:limit]


async def test_pages_forward_until_the_end() -> None:
    ex = ScriptedExchange(2500)
    frame = await fetch_history(ex, "BTC/USDT", "1h", START)
    assert len(frame) == 2500 and frame["ts"].is_monotonic_increasing
    assert ex.calls[:3] == [START, START + 1000 * HOUR, START + 2000 * HOUR]
    assert frame["close"].iloc[-1] == 100.5 + 2499


async def test_until_is_exclusive_and_a_timeout_is_retried(monkeypatch) -> None:
    monkeypatch.setattr("oxbot.engine.backtest.history.asyncio.sleep", _no_sleep)
    ex = ScriptedExchange(300, fail_first=True)
    frame = await fetch_history(ex, "BTC/USDT", "1h", START, START + 100 * HOUR)
    assert len(frame) == 100 and int(frame["ts"].iloc[-1]) == START + 99 * HOUR
    assert ex.calls[0] == ex.calls[1] == START  # the failed read was repeated


async def test_empty_range_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no 1h candles"):
        await fetch_history(ScriptedExchange(0), "BTC/USDT", "1h", START)


async def _no_sleep(_s: float) -> None:
    return None


def test_parse_date() -> None:
    assert parse_date("2024-01-01", "--since") == START
    assert parse_date("2024-01-01T01:00", "--since") == START + HOUR
    with pytest.raises(UsageError, match="--since 'yesterday' is not a date"):
        parse_date("yesterday", "--since")
    assert issubclass(TemporaryError, Exception)


def test_real_entry_point_subprocess(tmp_path: Path, bt) -> None:
    data = bt.write_csv(tmp_path / "gen_ETH-USDT_1h.csv", bt.generated_candles(400))
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "oxbot.cli.main",
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            str(data),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["symbol"] == "ETH/USDT"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "oxbot.cli.main",
            "backtest",
            "--strategy",
            "sma_cross",
            "--exchange",
            "binance",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "--exchange needs --symbol --timeframe --since" in bad.stderr
