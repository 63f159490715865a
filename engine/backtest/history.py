"""Download OHLCV history through ccxt (public endpoints, no keys) into the frame `load_csv`
returns. Pages forward with ``since`` until ``until`` or the exchange has nothing newer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, TemporaryError, UsageError
from ..market.csvdata import COLUMNS
from ..models import timeframe_seconds

READ_ATTEMPTS = 5  # one call and four retries, with backoff: reads are safe to repeat
PAGE_LIMIT = 1000


def parse_date(text: str, what: str) -> int:
    """``2024-01-31`` or ``2024-01-31T12:00`` (UTC) or integer ms → epoch milliseconds."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a date; use YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM (UTC)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def make_client(exchange_id: str, options: dict[str, Any] | None = None) -> Any:
    import ccxt.async_support as ccxt_async  # noqa: PLC0415 - slow import, only when used

    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None or not isinstance(cls, type):
        raise UsageError(f"unknown exchange {exchange_id!r}; give a ccxt exchange id such as "
                         "binance, kraken or bybit")
    return cls({"enableRateLimit": True, **(options or {})})


async def _read(call: Callable[[], Any], attempted: str) -> Any:
    from ..exchange.errors import translate  # noqa: PLC0415

    for attempt in range(READ_ATTEMPTS):
        try:
            return await call()
        except Exception as e:  # noqa: BLE001 - translated right here
            err = translate(e, attempted)
            if not isinstance(err, TemporaryError) or attempt == READ_ATTEMPTS - 1:
                raise err from e
            delay = getattr(err, "retry_after", None) or min(10.0, 2 ** attempt)
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
    raise AssertionError("unreachable")


def _page(client: Any, symbol: str, timeframe: str, since: int) -> Callable[[], Any]:
    return lambda: client.fetch_ohlcv(symbol, timeframe, since, PAGE_LIMIT)


async def fetch_history(client: Any, symbol: str, timeframe: str, since_ms: int,
                        until_ms: int | None = None,
                        progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Closed candles of ``symbol`` from ``since_ms`` (inclusive) to ``until_ms`` (exclusive);
    the caller owns ``client`` and closes it."""
    step = timeframe_seconds(timeframe) * 1000
    rows: list[np.ndarray] = []
    cursor = since_ms
    where = f"fetch_ohlcv {symbol} {timeframe} on {client.id}"
    while True:
        page = await _read(_page(client, symbol, timeframe, cursor), where)
        if not page:
            break
        arr = np.asarray(page, dtype=np.float64)[:, :6]
        arr = arr[arr[:, 0] >= cursor]
        if until_ms is not None:
            arr = arr[arr[:, 0] < until_ms]
        if len(arr) == 0:
            break
        rows.append(arr)
        if progress is not None:
            progress(sum(len(r) for r in rows))
        cursor = int(arr[-1, 0]) + step
        if until_ms is not None and cursor >= until_ms:
            break
    if not rows:
        raise DataError(f"{client.id} returned no {timeframe} candles for {symbol} in that "
                        "range; check --since/--until and the symbol")
    data = np.concatenate(rows)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    data = data[data[:, 0] + step <= now_ms]  # drop the still-open candle
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    frame["ts"] = frame["ts"].astype(np.int64)
    frame = frame.drop_duplicates("ts").sort_values("ts", ignore_index=True)
    return frame


def download(exchange_id: str, symbol: str, timeframe: str, since: str, until: str | None,
             options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Synchronous wrapper for the CLI: make a keyless client, fetch, always close it."""
    try:
        timeframe_seconds(timeframe)
    except ValueError as e:
        raise UsageError(str(e)) from None
    since_ms = parse_date(since, "--since")
    until_ms = parse_date(until, "--until") if until else None
    if until_ms is not None and until_ms <= since_ms:
        raise UsageError("--until must be after --since")

    async def go() -> pd.DataFrame:
        client = make_client(exchange_id, options)
        try:
            return await fetch_history(client, symbol, timeframe, since_ms, until_ms)
        finally:
            await client.close()

    return asyncio.run(go())
