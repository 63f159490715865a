"""Download OHLCV history through ccxt (public endpoints, no keys) into the frame `load_csv`
returns. Pages forward with ``since`` until ``until`` or the exchange has nothing newer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import Floats
from ..errors import DataError, TemporaryError, UsageError
from ..market.csvdata import COLUMNS
from ..models import timeframe_seconds

if TYPE_CHECKING:  # parse_date (--since/--until on a CSV file) needs no pandas
    import pandas as pd

READ_ATTEMPTS = 5  # one call and four retries, with backoff: reads are safe to repeat
PAGE_LIMIT = 1000
REACH_DEADLINE_S = 8.0  # an offline user learns it in seconds, not after a minute of retries


def parse_date(text: str, what: str) -> int:
    """``2024-01-31`` or ``2024-01-31T12:00`` (UTC) or integer ms → epoch milliseconds."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what} {text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def make_client(exchange_id: str, options: dict[str, Any] | None = None) -> Any:
    import ccxt.async_support as ccxt_async  # noqa: PLC0415 - slow import, only when used

    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None or not isinstance(cls, type):
        raise UsageError(
            f"unknown exchange {exchange_id!r}; give a ccxt exchange id such as "
            "binance, kraken or bybit"
        )
    return cls({"enableRateLimit": True, **(options or {})})


def _why(e: BaseException) -> str:
    """The useful part of a connection failure (``api.binance.com: Name or service not known``),
    found down the exception's cause chain; never a class name."""
    import re  # noqa: PLC0415

    seen: BaseException | None = e
    for _ in range(6):  # the innermost cause says what went wrong (DNS, refused, reset)
        if seen is None:
            break
        os_error = next((a for a in getattr(seen, "args", ()) if isinstance(a, OSError)), None)
        host = getattr(getattr(seen, "args", [None])[0], "host", None) if seen.args else None
        if os_error is not None and os_error.strerror:
            return f"{host}: {os_error.strerror}" if host else os_error.strerror
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(e)
    inner = re.findall(r"\[([^\[\]]{3,120})\]", text)
    if inner:
        return str(inner[-1])
    return "no answer" if not text else text.splitlines()[0][:160]


async def reach(client: Any, symbol: str, deadline_s: float = REACH_DEADLINE_S) -> None:
    """Load the exchange's markets once, quickly, before any paging: OxbotError "cannot reach
    ..." within ``deadline_s`` when offline; UsageError when ``symbol`` is not a market there.
    The markets stay cached on ``client``, so paging does not load them again."""
    import ccxt  # noqa: PLC0415

    from ..errors import BadSymbol, OxbotError  # noqa: PLC0415

    name = client.id
    try:
        await asyncio.wait_for(client.load_markets(), deadline_s)
    except TimeoutError:
        raise OxbotError(
            f"cannot reach {name} (network/DNS): no answer within "
            f"{deadline_s:g} s; check the connection or proxy and try again"
        ) from None
    except ccxt.NetworkError as e:
        raise OxbotError(
            f"cannot reach {name} (network/DNS): {_why(e)}; check the connection "
            "or proxy and try again"
        ) from None
    except ccxt.BaseError as e:
        raise OxbotError(
            f"{name} refused to list its markets: {_why(e)}; try again later"
        ) from None
    if client.markets is not None and symbol not in client.markets:
        raise BadSymbol(
            f"{symbol} is not a market on {name}; check the symbol (BASE/QUOTE, e.g. BTC/USDT)"
        )


async def _read(call: Callable[[], Any], attempted: str) -> Any:
    from ..exchange.errors import translate  # noqa: PLC0415

    for attempt in range(READ_ATTEMPTS):
        try:
            return await call()
        except Exception as e:  # noqa: BLE001 - translated right here
            err = translate(e, attempted)
            if not isinstance(err, TemporaryError) or attempt == READ_ATTEMPTS - 1:
                raise err from e
            delay = getattr(err, "retry_after", None) or min(10.0, 2**attempt)
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
    raise AssertionError("unreachable")


def _page(client: Any, symbol: str, timeframe: str, since: int) -> Callable[[], Any]:
    return lambda: client.fetch_ohlcv(symbol, timeframe, since, PAGE_LIMIT)


async def fetch_history(
    client: Any,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Closed candles of ``symbol`` from ``since_ms`` (inclusive) to ``until_ms`` (exclusive);
    the caller owns ``client`` and closes it."""
    step = timeframe_seconds(timeframe) * 1000
    rows: list[Floats] = []
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
        raise DataError(
            f"{client.id} returned no {timeframe} candles for {symbol} in that "
            "range; check --since/--until and the symbol"
        )
    data = np.concatenate(rows)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    data = data[data[:, 0] + step <= now_ms]  # drop the still-open candle
    import pandas as pd  # noqa: PLC0415

    frame = pd.DataFrame(data, columns=list(COLUMNS))
    frame["ts"] = frame["ts"].astype(np.int64)
    frame = frame.drop_duplicates("ts").sort_values("ts", ignore_index=True)
    return frame


def download(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    since: str,
    until: str | None,
    options: dict[str, Any] | None = None,
) -> pd.DataFrame:
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
            await reach(client, symbol)
            return await fetch_history(client, symbol, timeframe, since_ms, until_ms)
        finally:
            await client.close()

    return asyncio.run(go())
