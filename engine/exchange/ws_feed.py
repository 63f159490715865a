"""Candles over websockets: ccxt.pro's ``watch_ohlcv`` with reconnect, backoff and stall
detection, and only well-formed candles out.

``WsCandles`` reads one (symbol, timeframe) through the exchange's shared ccxt.pro client
(``ExchangeClients.streaming``). Each answer of ``watch_ohlcv`` is the candles that changed
since the previous one, the candle in progress included (ccxt's ``ArrayCacheByTimestamp`` with
``newUpdates``; ccxt/async_support/base/ws/cache.py). Rows that are not a candle (wrong shape,
NaN or non-positive prices, high below low) are dropped and noted. A failed or silent
connection is retried with exponential backoff; after ``retries`` failures in a row
``WsDown`` tells the feed to poll REST instead (engine/exchange/feed.py).

Frames ccxt cannot read must not stop its receive loop: ccxt calls the exchange's
``handle_message`` from a done-callback of its receive task, and an exception there ends the
loop without closing the socket (ccxt/async_support/base/ws/client.py ``receive_loop``,
``handle_text_or_binary_message``). ``guard`` makes both drop such a frame instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from oxbot.engine.errors import TemporaryError
from oxbot.engine.models import Candle

from .errors import translate
from .retry import RetryPolicy

log = logging.getLogger(__name__)

DROPPED_KEPT = 100  # garbage frames remembered per exchange (for a look, not a log)
PROBE_STALL_S = 10.0  # how long a try after a fallback waits for data (REST waits meanwhile)
WS_ENV = "OXBOT_WEBSOCKETS"  # "0", "off", "false" or "no": REST polling only


def websockets_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when the user turned websockets off (``OXBOT_WEBSOCKETS=0``)."""
    value = (os.environ if env is None else env).get(WS_ENV, "").strip().lower()
    return value not in ("0", "off", "false", "no")


class WsDown(Exception):
    """The websocket failed ``retries`` times in a row; ``reason`` is the last failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reason_of(e: BaseException) -> str:
    """What went wrong, never empty (a TimeoutError has no text: "timed out")."""
    text = str(e).strip()
    if text:
        return text
    return "timed out" if isinstance(e, TimeoutError) else type(e).__name__


def candle_of(row: Any) -> Candle | None:
    """A ccxt OHLCV row as a Candle, or None when it is not one."""
    try:
        if len(row) < 6 or isinstance(row[0], bool):
            return None
        ts = int(row[0])
        o, h, lo, c = (float(x) for x in row[1:5])
        v = float(row[5] if row[5] is not None else 0)
    except (TypeError, ValueError, OverflowError):
        return None
    prices = (o, h, lo, c)
    if ts <= 0 or not all(math.isfinite(x) and x > 0 for x in prices):
        return None
    if not math.isfinite(v) or v < 0 or h < max(o, c, lo) or lo > min(o, c):
        return None
    return Candle(ts, o, h, lo, c, v)


def guard(exchange: Any) -> deque[str]:
    """Make a ccxt.pro exchange drop frames it cannot read instead of ending its receive
    loop; returns where it notes them (the latest ``DROPPED_KEPT``; one per client)."""
    done: deque[str] | None = getattr(exchange, "_oxbot_dropped", None)
    if done is not None:
        return done
    dropped: deque[str] = deque(maxlen=DROPPED_KEPT)
    exchange._oxbot_dropped = dropped
    handle = exchange.handle_message

    def handle_message(client: Any, message: Any) -> Any:
        if not isinstance(message, dict | list):  # text that is not JSON
            dropped.append(repr(message)[:80])
            return None
        try:
            return handle(client, message)
        except Exception as e:  # noqa: BLE001 - a frame of the wrong shape
            dropped.append(f"{type(e).__name__}: {repr(message)[:60]}")
            return None

    exchange.handle_message = handle_message
    make_client = exchange.client

    def client(url: str) -> Any:
        ws = make_client(url)
        if not getattr(ws, "_oxbot_guarded", False):
            ws._oxbot_guarded = True
            decode = ws.handle_text_or_binary_message

            def handle_text_or_binary_message(data: Any) -> Any:
                try:
                    return decode(data)
                except ValueError:  # broken JSON (json and orjson errors are ValueErrors)
                    dropped.append(repr(data)[:80])
                    return None

            ws.handle_text_or_binary_message = handle_text_or_binary_message
        return ws

    exchange.client = client
    return dropped


class WsCandles:
    """One stream's candles from ``watch_ohlcv``. ``rows()`` yields the valid candles of each
    answer (the last may be in progress), forever, or raises ``WsDown``."""

    def __init__(
        self,
        exchange: Any,
        symbol: str,
        timeframe: str,
        *,
        retries: int = 5,
        policy: RetryPolicy | None = None,
        stall_s: float = 60.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.exchange, self.symbol, self.timeframe = exchange, symbol, timeframe
        self.retries = retries
        self.policy = policy or RetryPolicy(retries=retries, base_s=1.0, max_s=30.0)
        self.stall_s = stall_s
        self._sleep = sleep
        self.rng = rng or random.Random()
        self.dropped = guard(exchange)  # frames and rows skipped as garbage (per exchange)
        self.reconnects = 0  # reconnect attempts ever made (after a failure)
        self.last_error = ""
        self.on_error: Callable[[str], None] | None = None  # the feed hears each failure

    async def rows(self, *, probe: bool = False) -> AsyncIterator[list[Candle]]:
        """``probe``: a try after a fallback to REST: one failure (or ``PROBE_STALL_S`` of
        silence) is enough to go back to REST; once data came, the usual retries apply."""
        failures = 0
        limit, stall_s = (0, min(self.stall_s, PROBE_STALL_S)) if probe else (self.retries, 0.0)
        stall_s = stall_s or self.stall_s
        while True:
            try:
                raw = await asyncio.wait_for(
                    self.exchange.watch_ohlcv(self.symbol, self.timeframe), stall_s
                )
            except TimeoutError:
                reason = f"no websocket data for {stall_s:g}s"
                self._drop_silent_connections(reason, stall_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - translated right here
                # Any failure of the stream is a websocket failure, an error reply of the
                # stream server too (binance {"error": {...}, "id": N}: ccxt/pro/binance.py
                # ``handle_ws_error`` rejects the watch with an ExchangeError, not a
                # NetworkError): retried, then REST. A bad symbol is refused by REST first.
                err = translate(e, f"watch {self.timeframe} candles {self.symbol}")
                reason = reason_of(err)
                if not isinstance(err, TemporaryError):
                    self._forget_subscription()
            else:
                candles = [c for c in map(candle_of, raw or ()) if c is not None]
                if len(candles) < len(raw or ()):
                    self.dropped.append(f"{len(raw) - len(candles)} malformed candle row(s)")
                if candles:
                    failures, limit, stall_s = 0, self.retries, self.stall_s
                    yield candles
                continue
            self.last_error = reason
            if self.on_error is not None:
                self.on_error(reason)
            if failures >= limit:
                raise WsDown(reason)
            delay = self.policy.delay(failures, self.rng)
            failures += 1
            self.reconnects += 1
            log.warning(
                "%s %s websocket: %s; reconnecting in %.2fs (try %d of %d)",
                self.symbol,
                self.timeframe,
                reason,
                delay,
                failures,
                self.retries,
            )
            await self._sleep(delay)
            # ccxt.pro adds its own dial backoff after a refused handshake (0.2 s doubling,
            # base/exchange.py ``on_error``/``ws_dial_delay``): ours is the one that applies
            dial_backoff = getattr(self.exchange, "ws_dial_backoff", None)
            if isinstance(dial_backoff, dict):
                dial_backoff.clear()

    async def unwatch(self, timeout_s: float = 5.0) -> None:
        """Tell the exchange this stream is no longer read (ccxt.pro ``un_watch_ohlcv``: an
        UNSUBSCRIBE on binance), when ccxt can; a failure only leaves it flowing."""
        if not self.exchange.has.get("unWatchOHLCV"):
            return
        try:
            await asyncio.wait_for(
                self.exchange.un_watch_ohlcv(self.symbol, self.timeframe), timeout_s
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - nothing depends on it
            why = reason_of(e)
            log.info("%s %s: could not unsubscribe (%s)", self.symbol, self.timeframe, why)

    def forget(self, ts: int) -> None:
        """Take a dropped candle out of ccxt.pro's cache. Its watch answers with the last N
        rows by position, N the open times updated since (ccxt/async_support/base/ws/cache.py
        ``ArrayCacheByTimestamp.getLimit``, binance ``watch_ohlcv_for_symbols``
        ``filter_by_since_limit(..., tail=True)``): a garbage row left after the candle in
        progress would be handed out in place of each of its updates."""
        ohlcvs = getattr(self.exchange, "ohlcvs", None)
        cache = (
            ohlcvs.get(self.symbol, {}).get(self.timeframe) if isinstance(ohlcvs, dict) else None
        )
        hashmap, rows = getattr(cache, "hashmap", None), getattr(cache, "_deque", None)
        if not isinstance(hashmap, dict) or ts not in hashmap or rows is None:
            return
        row = hashmap.pop(ts)
        kept = [r for r in rows if r is not row]
        rows.clear()
        rows.extend(kept)

    def _forget_subscription(self) -> None:
        """After an error reply ccxt keeps the refused subscription in ``client.subscriptions``
        (ccxt/pro/binance.py ``handle_ws_error`` deletes it only when it names a
        ``subscription``; ``watch_ohlcv_for_symbols`` keys it ``ohlcv::<symbol>::<tf>``), so
        the next watch would wait on a stream never subscribed: this stream's entries are
        forgotten and the next watch subscribes again."""
        names = (self.symbol, self._market_id())
        interval = str((getattr(self.exchange, "timeframes", None) or {}).get(self.timeframe, ""))
        ends = tuple(x for x in (self.timeframe, interval) if x)
        for ws in list((getattr(self.exchange, "clients", None) or {}).values()):
            subscriptions = getattr(ws, "subscriptions", None)
            if not isinstance(subscriptions, dict):
                continue
            for name in list(subscriptions):
                if not isinstance(name, str) or not name.endswith(ends):
                    continue
                if any(n and n in name for n in names):
                    del subscriptions[name]

    def _market_id(self) -> str:
        try:
            market = self.exchange.market(self.symbol)
        except Exception:  # noqa: BLE001 - markets not loaded: nothing subscribed either
            return ""
        return str(market.get("lowercaseId") or "")

    def _drop_silent_connections(self, reason: str, stall_s: float) -> None:
        """A connection silent for ``stall_s`` is dropped the way ccxt drops a failed one
        (``Client.on_error`` rejects its futures, the exchange forgets it, the socket closes);
        the next watch dials again. One that carries other streams' data stays (this stream
        alone is silent: its failures count, the others go on)."""
        import ccxt  # noqa: PLC0415

        now = self.exchange.milliseconds()
        for ws in list((getattr(self.exchange, "clients", None) or {}).values()):
            last = getattr(ws, "last_message_at", None)
            if not ws.closed() and (last is None or now - last >= stall_s * 1000):
                ws.on_error(ccxt.NetworkError(reason))


__all__ = [
    "WS_ENV",
    "WsCandles",
    "WsDown",
    "candle_of",
    "guard",
    "reason_of",
    "websockets_enabled",
]
