"""`oxbot data download` checks what it can before any network wait, refuses to resume a file
of another market, and says quickly when the exchange cannot be reached."""

from __future__ import annotations

import socket
import time
from pathlib import Path

BASE = (
    "data",
    "download",
    "--exchange",
    "binance",
    "--timeframe",
    "1m",
    "--since",
    "2024-01-01",
    "--until",
    "2024-01-02",
)


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_symbol_and_out_are_checked_before_the_network(oxbot, tmp_path) -> None:
    api = f"http://127.0.0.1:{_closed_port()}"
    code, out, err = oxbot(
        *BASE, "--symbol", "BTCUSDT", "--out", str(tmp_path / "a.csv"), "--api-url", api
    )
    assert code == 2 and "BASE/QUOTE" in err
    missing = tmp_path / "nope" / "a.csv"
    code, out, err = oxbot(*BASE, "--symbol", "BTC/USDT", "--out", str(missing), "--api-url", api)
    assert code == 2 and "does not exist" in err and not missing.parent.exists()


def test_resume_refuses_a_file_of_another_timeframe(oxbot, candles_csv) -> None:
    hourly = candles_csv("BTC-USDT_1h.csv")  # 1h candles; asked for 1m
    before = hourly.read_bytes()
    api = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    code, out, err = oxbot(*BASE, "--symbol", "BTC/USDT", "--out", str(hourly), "--api-url", api)
    assert code == 2 and "not 1m" in err and "another --out" in err
    assert time.monotonic() - started < 2  # decided from the file, no network attempt
    assert hourly.read_bytes() == before


def test_unreachable_exchange_is_one_quick_line(oxbot, tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{_closed_port()}"
    out_file = tmp_path / "btc.csv"
    started = time.monotonic()
    code, out, err = oxbot(*BASE, "--symbol", "BTC/USDT", "--out", str(out_file), "--api-url", api)
    elapsed = time.monotonic() - started
    assert code == 1 and elapsed < 10, (elapsed, err)
    assert err.startswith("oxbot: cannot reach binance (network/DNS): ")
    assert len(err.strip().splitlines()) == 1
    assert "Error" not in err  # no class names
    assert not out_file.exists()
