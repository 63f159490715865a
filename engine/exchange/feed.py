"""``CcxtFeed``: candles and prices of one (exchange, symbol, timeframe) for the MarketHub.

REST: the ticker is polled between candle closes; at each close the new closed candles are
fetched (the still-open one is dropped). Websocket (``ws``, engine/exchange/ws_feed.py):
ccxt.pro's ``watch_ohlcv`` with reconnect and backoff, REST polling while it is down, back to
it when it answers again. A last-good price is kept when the exchange is unreachable and
marked stale past ``stale_after_s``.
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
from .ws_feed import WsCandles, WsDown

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
        ws: WsCandles | None = None,
        ws_off: str = "",
        ws_retry_s: float = 60.0,
        on_feed: Callable[[str], None] | None = None,
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
        # The websocket (None: REST only, ``ws_off`` says why), how long REST is polled before
        # the websocket is tried again, and who hears which one is used (``feed``).
        self.ws, self.ws_off, self.ws_retry_s = ws if use_stream else None, ws_off, ws_retry_s
        self.on_feed = on_feed
        self.feed = ""

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
        symbol) raise; temporary ones only make the price stale.

        With a websocket (``ws``): read it; when it is down (``WsDown``: its retries spent)
        poll REST for ``ws_retry_s``, then try the websocket again, once (REST again at its
        first failure). ``on_feed`` hears which one is used ("ws", "rest (ws down: ...)")."""
        ws = self.ws
        if ws is None:
            self._feed("rest" + (f" ({self.ws_off})" if self.ws_off else ""))
            while True:
                for item in await self.poll_once():
                    yield item
                await self._sleep(self.poll_s)
        probe = False
        while True:
            try:
                async for item in self._ws_items(ws, probe=probe):
                    yield item
            except WsDown as e:
                self._feed(f"rest (ws down: {e.reason})")
            probe = True  # from now on one failed try is enough to go back to REST
            for _ in range(max(1, round(self.ws_retry_s / max(self.poll_s, 1e-3)))):
                for item in await self.poll_once():
                    yield item
                await self._sleep(self.poll_s)

    def _feed(self, label: str) -> None:
        if label != self.feed:
            self.feed = label
            log.info("%s %s market data: %s", self.symbol, self.timeframe, label)
            if self.on_feed is not None:
                self.on_feed(label)

    async def _ws_items(self, ws: WsCandles, *, probe: bool) -> AsyncIterator[Tick | Candle]:
        """The websocket's candles: one becomes a closed Candle when a later one starts (the
        exchange lists the candle in progress last, as in ``_closed``); until then each
        update is a Tick. Updates of candles already handed out are ignored."""
        if not ws.exchange.markets and self.client.markets:  # loaded once, by REST
            ws.exchange.set_markets(self.client.markets, self.client.currencies)
        ws.on_error = self._ws_error
        current: Candle | None = None
        async for rows in ws.rows(probe=probe):
            self._feed("ws")
            for c in sorted(rows, key=lambda r: r.ts):
                if current is None:
                    last = self._last_candle_ts
                    if last is not None and c.ts > last + self.tf_ms:
                        self._exchange_ms = max(self._exchange_ms, c.ts)  # the ones before closed
                        for item in await self._catch_up():  # closed while not watched
                            yield item
                    current = c
                elif c.ts > current.ts:
                    closed, current = current, c
                    if self._last_candle_ts is None or closed.ts > self._last_candle_ts:
                        self._last_candle_ts = closed.ts
                        yield closed
                elif c.ts == current.ts:
                    current = c
            if current is not None:
                self._exchange_ms = max(self._exchange_ms, current.ts)
                self._ok(current.close)
                yield Tick(self.clock.now_ms(), current.close)

    def _ws_error(self, reason: str) -> None:
        self.last_error = reason  # the stale notice says it

    async def _catch_up(self) -> list[Candle]:
        """The candles that closed since the last one handed out, by REST (after the feed
        switched back to the websocket)."""
        c, since = self.client, (self._last_candle_ts or 0) + 1
        try:
            rows = await self.clients.read(
                c,
                lambda: c.fetch_ohlcv(self.symbol, self.timeframe, since),
                f"fetch {self.timeframe} candles {self.symbol}",
            )
        except TemporaryError as e:
            log.warning("%s: cannot fetch the candles missed meanwhile (%s)", self.symbol, e)
            return []
        return self._closed(rows)
