"""``CcxtFeed``: candles and prices of one (exchange, symbol, timeframe) for the MarketHub.

REST: the ticker is polled between candle closes; at each close the new closed candles are
fetched (the still-open one is dropped). Websocket (``ws``, engine/exchange/ws_feed.py):
ccxt.pro's ``watch_ohlcv`` with reconnect and backoff, REST polling while it is down, back to
it when it answers again. A last-good price is kept when the exchange is unreachable and
marked stale past ``stale_after_s``.

Both paths drop what cannot be a candle or a price (noted once in the log, then counted in
``garbage``): rows ``candle_of`` refuses, open times off the stream's grid or ahead of the
clock, prices off the last one by more than ``PRICE_FACTOR``. A hole on the websocket (a jump,
a redial) is filled by REST.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from oxbot.engine.clock import Clock, WallClock
from oxbot.engine.errors import TemporaryError
from oxbot.engine.models import Candle, timeframe_seconds

from .clients import ExchangeClients
from .ws_feed import WsCandles, WsDown, candle_of

log = logging.getLogger(__name__)

# A price more than PRICE_FACTOR times the previous one (or less than its 1/PRICE_FACTOR) in one
# candle is refused as garbage. Why x10: an exchange cannot print it. Binance refuses an order
# priced outside [multiplierDown, multiplierUp] x the 5-minute average price (its
# PERCENT_PRICE_BY_SIDE filter; BTCUSDT: 0.2 and 5, GET /api/v3/exchangeInfo), so a real trade,
# hence a real candle, stays within x5 / x0.2 of the price minutes before it; x10 leaves room
# for a thin market, and still stops the 1e12 / 1e-9 / 1e300 of a broken frame (adv14 W3).
PRICE_FACTOR = 10.0
# Unless the level really moved: this many candles in a row, all refused and each within the
# factor of the one before, make the new level the reference (noted in the log).
REBASE_AFTER = 3


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
        self._ref: float | None = None  # the price the next one is checked against
        self._grid: int | None = None  # an open time taken: candles are whole steps from it
        self._refused: dict[int, float] = {}  # candles refused in a row (a level that moved?)
        self.garbage: dict[str, int] = {}  # candles/prices dropped, by kind (noted once each)

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

    # ------------------------------------------------------------------ garbage

    def _note(self, kind: str, what: str) -> None:
        """A dropped candle or price: the log says the first of each kind, the rest are counted
        (``garbage``)."""
        self.garbage[kind] = self.garbage.get(kind, 0) + 1
        if self.garbage[kind] == 1:
            log.warning(
                "%s %s: dropped %s (%s); more of these are only counted",
                self.symbol,
                self.timeframe,
                kind,
                what,
            )

    def _timely(self, c: Candle) -> bool:
        """False (noted) for an open time that cannot be a candle of this stream: off the
        stream's grid (a whole number of timeframes from the candles already taken: Binance
        opens them on the UTC grid, OKX its 6h and 1d ones at Hong Kong midnight, ccxt okx.py
        timeframes '6H', '1D'; the grid is what the exchange showed), or ahead of the clock by
        more than a candle (ours or the wall's, whichever is later). A real next candle is
        never further ahead than the clock, so this also bounds a jump after the last one."""
        if self._grid is not None and (c.ts - self._grid) % self.tf_ms:
            self._note("candle off the timeframe", f"open time {c.ts}")
            return False
        clock = self._latest_ms()
        if c.ts > clock + self.tf_ms:
            self._note("candle from the future", f"open time {c.ts}, clock {clock}")
            return False
        return True

    def _latest_ms(self) -> int:
        """The later of our clock and the wall clock (never the exchange's own word)."""
        return max(self.clock.now_ms(), int(time.time() * 1000))

    def _priced(self, c: Candle) -> bool:
        """False (noted) when a price of ``c`` is off the reference (the last price taken) by
        more than ``PRICE_FACTOR``; else ``c.close`` becomes the reference."""
        ref = self._ref
        if ref is None or _near(c, ref):
            self._refused.clear()
            self._ref = c.close
            return True
        run = self._refused
        last = run[max(run)] if run else None
        if last is not None and not _near(c, last):
            run.clear()
        run[c.ts] = c.close
        if len(run) >= REBASE_AFTER:  # the same new level for several candles: real
            log.warning(
                "%s %s: the price moved from %s to %s and stayed for %d candles: taken",
                self.symbol,
                self.timeframe,
                ref,
                c.close,
                len(run),
            )
            run.clear()
            self._ref = c.close
            return True
        self._note("absurd price", f"close {c.close} after {ref}")
        return False

    def _candles(self, rows: Iterable[Any]) -> list[Candle]:
        """REST rows as candles, oldest first, one per open time: the same ``candle_of``
        check as the websocket's rows (a None, 0 or NaN price is no candle) and ``_timely``."""
        parsed = []
        for r in rows or ():
            c = candle_of(r)
            if c is None:
                self._note("malformed candle row", repr(r)[:80])
            else:
                parsed.append(c)
        if self._grid is None:  # the first rows: the newest one not from the future
            now = self._latest_ms() + self.tf_ms
            self._grid = max((c.ts for c in parsed if c.ts <= now), default=None)
        out = {c.ts: c for c in parsed if self._timely(c)}
        return [out[ts] for ts in sorted(out)]

    def _closed(self, rows: list[list[Any]]) -> list[Candle]:
        candles = self._candles(rows)
        newest = candles[-1].ts if candles else 0
        # The exchange lists the candle in progress last: it has started, so the ones before
        # it have closed, whatever our clock says.
        self._exchange_ms = max(self._exchange_ms, newest)
        now = self.now_ms()
        fresh = [
            c
            for c in candles
            if not (c.ts + self.tf_ms > now and c.ts >= newest)  # still open
            and (self._last_candle_ts is None or c.ts > self._last_candle_ts)
        ]
        if self._ref is None and fresh:  # the first prices: checked against their median
            self._ref = statistics.median(c.close for c in fresh)
        out = [c for c in fresh if self._priced(c)]
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
            candles = [c for c in self._candles(rows) if since <= c.ts < first_ts]
            if candles:  # older prices: checked against their own median
                ref = statistics.median(c.close for c in candles)
                sane = [c for c in candles if _near(c, ref)]
                for _ in range(len(candles) - len(sane)):
                    self._note("absurd price", f"an older candle off its neighbours' {ref}")
                candles = sane
            got = {c.ts: c for c in candles}
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
        price = _number(t.get("last") or t.get("close"))
        if price is None:
            self._note("ticker without a price", repr(t.get("last"))[:40])
            return []
        ts = t.get("timestamp")
        ts = ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else None
        tick = Candle(ts or self.clock.now_ms(), price, price, price, price, 0.0)
        if ts is not None and ts > self._latest_ms() + self.tf_ms:
            self._note("ticker from the future", f"time {ts}")
            ts = None  # a time from the future is not the exchange's: ours is used
        if not self._priced(tick):
            return []
        if ts is not None:
            self._exchange_ms = max(self._exchange_ms, ts)
        self._ok(price)
        return [Tick(ts or self.clock.now_ms(), price)]

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
        """The websocket's candles: one becomes a closed Candle when the next one starts (the
        exchange lists the candle in progress last, as in ``_closed``); until then each
        update is a Tick. Updates of candles already handed out are ignored, and so are
        candles that cannot be real (``_timely``) or whose prices are absurd (``_priced``).

        A candle more than one step after the last one, or any new candle after a redial
        (``ws.reconnects`` moved: the updates of the candle in progress during the drop were
        missed), makes the closed candles since the last one handed out come from REST
        (``_catch_up``), the one in progress at the drop included: never closed from its last
        partial update."""
        if not ws.exchange.markets and self.client.markets:  # loaded once, by REST
            ws.exchange.set_markets(self.client.markets, self.client.currencies)
        ws.on_error = self._ws_error
        current: Candle | None = None
        dialled = ws.reconnects
        async for rows in ws.rows(probe=probe):
            self._feed("ws")
            redialled, dialled = ws.reconnects != dialled, ws.reconnects
            for c in sorted(rows, key=lambda r: r.ts):
                if current is not None and c.ts < current.ts:
                    continue  # an update of a candle already over
                ref = self._ref  # what the candles missed before ``c`` are checked against
                if not self._timely(c) or not self._priced(c):
                    ws.forget(c.ts)
                    continue
                if self._grid is None:
                    self._grid = c.ts
                if current is not None and c.ts == current.ts:
                    current, redialled = c, False  # its updates go on: a whole candle again
                    continue
                last = self._last_candle_ts if current is None else current.ts - self.tf_ms
                whole = current is not None and not redialled and c.ts == current.ts + self.tf_ms
                if whole and current is not None:
                    closed = current
                    if self._last_candle_ts is None or closed.ts > self._last_candle_ts:
                        self._last_candle_ts = closed.ts
                        yield closed
                elif last is not None and (c.ts > last + self.tf_ms or redialled):
                    self._exchange_ms = max(self._exchange_ms, c.ts)  # the ones before closed
                    self._ref = ref
                    for item in await self._catch_up():  # closed while not watched whole
                        yield item
                    self._ref = c.close
                current, redialled = c, False
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


def _prices(c: Candle) -> tuple[float, float, float, float]:
    return (c.open, c.high, c.low, c.close)


def _near(c: Candle, ref: float) -> bool:
    return all(ref / PRICE_FACTOR <= p <= ref * PRICE_FACTOR for p in _prices(c))


def _number(x: Any) -> float | None:
    """A positive finite price, or None."""
    if isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) and v > 0 else None
