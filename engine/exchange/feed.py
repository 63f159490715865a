"""``CcxtFeed``: candles and prices of one (exchange, symbol, timeframe) for the MarketHub.

REST: the ticker is polled between candle closes; at each close the new closed candles are
fetched (the still-open one is dropped). ccxt.pro: ``watch_ohlcv`` when the client has it, with
reconnect and backoff, falling back to REST after repeated stream failures. A last-good price
is kept when the exchange is unreachable and marked stale past ``stale_after_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from oxbot.engine.clock import Clock, WallClock
from oxbot.engine.errors import TemporaryError
from oxbot.engine.models import Candle, timeframe_seconds

from .clients import ExchangeClients
from .errors import translate
from .retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tick:
    """A last-trade price between candles. ``ts`` ms UTC."""

    ts: int
    price: float


class CcxtFeed:
    """One market data stream. The MarketHub owns one per StreamKey, whatever the number of
    bots, iterates ``updates()`` and reads ``last_price`` / ``is_stale`` for SL/TP."""

    def __init__(
        self,
        client: Any,
        symbol: str,
        timeframe: str,
        *,
        clients: ExchangeClients,
        clock: Clock | None = None,
        poll_s: float = 5.0,
        stale_after_s: float = 60.0,
        use_stream: bool = True,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client, self.symbol, self.timeframe = client, symbol, timeframe
        self.clients = clients
        self.clock = clock or WallClock()
        self.tf_ms = timeframe_seconds(timeframe) * 1000
        self.poll_s, self.stale_after_s = poll_s, stale_after_s
        self.use_stream = use_stream
        self._sleep = sleep
        self.last_price: float | None = None
        self.last_ok_ts: int | None = None
        self.last_error = ""
        self._last_candle_ts: int | None = None
        self._exchange_ms = 0  # the newest time the exchange has shown (ticker, open candle)

    @property
    def is_stale(self) -> bool:
        """True when no price arrived for ``stale_after_s`` (or never)."""
        if self.last_ok_ts is None:
            return True
        return self.clock.now_ms() - self.last_ok_ts > self.stale_after_s * 1000

    def now_ms(self) -> int:
        """The later of our clock and the exchange's: a candle is closed when either says so
        (a local clock running behind the exchange's must not hold closed candles back)."""
        return max(self.clock.now_ms(), self._exchange_ms)

    def _closed(self, rows: list[list[Any]]) -> list[Candle]:
        newest = max((int(r[0]) for r in rows), default=0)
        # The exchange lists the candle in progress last: it has started, so the ones before
        # it have closed, whatever our clock says.
        self._exchange_ms = max(self._exchange_ms, newest)
        now = self.now_ms()
        out = []
        for r in rows:
            ts = int(r[0])
            if ts + self.tf_ms > now and ts >= newest:
                continue  # still open
            if self._last_candle_ts is not None and ts <= self._last_candle_ts:
                continue
            out.append(
                Candle(ts, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0))
            )
        out.sort(key=lambda c: c.ts)
        if out:
            self._last_candle_ts = out[-1].ts
            self._ok(out[-1].close)
        return out

    def _ok(self, price: float) -> None:
        self.last_price = price
        self.last_ok_ts = self.clock.now_ms()
        self.last_error = ""

    async def warmup(self, limit: int) -> list[Candle]:
        """The last ``limit`` closed candles, oldest first (fewer when the exchange has no
        more history). Exchanges cap one reply (Binance spot 1,000 rows: ccxt's
        ``binance.fetch_ohlcv`` sends ``min(limit, 1000)``; OKX 300): older pages are fetched
        by ``since`` until ``limit`` candles are known."""
        c = self.client
        rows = await self.clients.read(
            c,
            lambda: c.fetch_ohlcv(self.symbol, self.timeframe, None, limit + 1),
            f"fetch {self.timeframe} candles {self.symbol}",
        )
        candles = self._closed(rows)[-limit:]
        page = max(len(rows), 1)  # what one reply holds here: the page size for older ones
        while candles and len(candles) < limit:
            older = await self.history_before(candles[0].ts, min(page, limit - len(candles)))
            if not older:
                break  # the exchange has no older candles
            candles = older + candles
        return candles[-limit:]

    async def history_before(self, first_ts: int, count: int) -> list[Candle]:
        """Up to ``count`` closed candles just before ``first_ts``, oldest first, asked with
        ccxt's ``since`` (the first candle's open time, inclusive) = ``count`` bars earlier.
        A reply shorter than asked that does not reach ``first_ts`` was capped by the
        exchange: asked once more for the last page only, so no hole is left."""
        want = count
        for _ in range(2):
            since = first_ts - want * self.tf_ms
            rows = await self.clients.read(
                self.client,
                self._page(since, want),
                f"fetch older {self.timeframe} candles {self.symbol}",
            )
            got = {
                int(r[0]): Candle(
                    int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0)
                )
                for r in rows
                if since <= int(r[0]) < first_ts
            }
            if not got:
                return []
            if max(got) + self.tf_ms >= first_ts or len(got) >= want:
                break
            want = len(got)  # the exchange's page size: ask for the page ending at first_ts
        return [got[ts] for ts in sorted(got)]

    def _page(self, since: int, count: int) -> Callable[[], Any]:
        """One klines request, as ``ExchangeClients.read`` calls it (and may call again)."""
        return lambda: self.client.fetch_ohlcv(self.symbol, self.timeframe, since, count)

    async def poll_once(self) -> list[Tick | Candle]:
        """One REST cycle: new closed candles (when one closed), else a tick. On temporary
        failure nothing is returned and the last price is kept (``is_stale`` tells its age)."""
        c = self.client
        now = self.now_ms()
        try:
            due = self._last_candle_ts is None or now >= self._last_candle_ts + 2 * self.tf_ms
            if due:
                since = None if self._last_candle_ts is None else self._last_candle_ts + 1
                rows = await self.clients.read(
                    c,
                    lambda: c.fetch_ohlcv(self.symbol, self.timeframe, since),
                    f"fetch {self.timeframe} candles {self.symbol}",
                )
                candles = self._closed(rows)
                if candles:
                    return list(candles)
            t = await self.clients.read(
                c, lambda: c.fetch_ticker(self.symbol), f"fetch ticker {self.symbol}"
            )
        except TemporaryError as e:
            self.last_error = str(e)
            return []
        price = t.get("last") or t.get("close")
        if price is None:
            return []
        if isinstance(t.get("timestamp"), int):
            self._exchange_ms = max(self._exchange_ms, t["timestamp"])
        self._ok(float(price))
        return [Tick(int(t.get("timestamp") or self.clock.now_ms()), float(price))]

    async def updates(self) -> AsyncIterator[Tick | Candle]:
        """Ticks and closed candles, forever (until cancelled). Permanent errors (a bad
        symbol) raise; temporary ones only make the price stale."""
        if (
            self.use_stream
            and self.client.has.get("watchOHLCV")
            and hasattr(self.client, "watch_ohlcv")
        ):
            async for item in self._stream():
                yield item
        while True:
            for item in await self.poll_once():
                yield item
            await self._sleep(self.poll_s)

    async def _stream(self) -> AsyncIterator[Tick | Candle]:
        """ccxt.pro: watch_ohlcv with reconnect/backoff; returns (to REST) after 5 failures
        in a row. The last row of a watch is the open candle: its close is the tick."""
        policy = RetryPolicy(retries=5, base_s=1.0, max_s=30.0)
        failures = 0
        while failures <= policy.retries:
            try:
                rows = await self.client.watch_ohlcv(self.symbol, self.timeframe)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - translated right here
                err = translate(e, f"watch {self.timeframe} candles {self.symbol}")
                if not isinstance(err, TemporaryError):
                    raise err from e
                self.last_error = str(err)
                log.warning("%s; reconnecting", err)
                await self._sleep(policy.delay(failures, self.clients.rng))
                failures += 1
                continue
            failures = 0
            for candle in self._closed(rows):
                yield candle
            if rows:
                self._ok(float(rows[-1][4]))
                yield Tick(self.clock.now_ms(), float(rows[-1][4]))
        log.warning(
            "stream for %s %s keeps failing; polling REST instead", self.symbol, self.timeframe
        )
