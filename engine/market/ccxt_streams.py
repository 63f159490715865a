"""Real exchanges for the MarketHub: one ``CcxtFeed`` per (exchange, symbol, timeframe), whatever
the number of bots, all on one shared ``ExchangeClients`` (keyless public clients: PAPER bots and
market data never carry keys).

Each stream warms up with history, then puts ``Tick`` items (prices between closes, for SL/TP) and
``Bar`` items (a closed candle with the indicators updated once per close) into its
subscribers' inboxes, in real time (no lockstep). It also watches what a user must know:

- a price older than ``stale_after_s`` is *stale*: a Notice says so, SL/TP keep using the last
  price, and every subscribed bot is told (``PriceStale``, then ``PriceLive``): its view shows it;
- an exchange's circuit breaker opening is told to every bot (``ExchangeUnreachable``): the
  RUNNING bots of that exchange pause (Notice with the reason); its closing
  (``ExchangeReachable``) resumes the bots it paused.

The streams publish facts; the bots decide what they mean (BotRunner.market_fact and
exchange_fact). Nothing here reads or sets a bot's state.
- market rules (amount/price steps, minimums) are loaded once per exchange for the risk manager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..arrays import Floats, Times
from ..clock import Clock, WallClock
from ..errors import ExchangeError, TemporaryError
from ..exchange.clients import ExchangeClients, MarketInfo
from ..exchange.feed import CcxtFeed
from ..exchange.feed import Tick as FeedTick
from ..exchange.retry import BreakerState, RetryPolicy
from ..exchange.ws_feed import WsCandles, reason_of, websockets_enabled
from ..messages import (
    Event,
    ExchangeFact,
    ExchangeReachable,
    ExchangeUnreachable,
    MarketFeed,
    Notice,
    PriceFact,
    PriceLive,
    PriceStale,
)
from ..models import Candle, StreamKey, timeframe_seconds
from ..risk import DEFAULT_RULES, MarketRules
from .indicators import IndicatorSpec
from .window import WINDOW, CandleWindow

log = logging.getLogger("oxbot.market.ccxt")


class Reader(Protocol):
    """A bot reading streams: its inbox receives ticks and bars, ``market_fact`` a stream's
    price going stale or live."""

    name: str
    inbox: asyncio.Queue[Any]

    def market_fact(self, fact: PriceFact) -> None: ...


class BreakerListener(Protocol):
    """A bot told about circuit breakers; True when the fact paused or resumed it."""

    name: str

    async def exchange_fact(self, fact: ExchangeFact) -> bool: ...


def rules_of(info: MarketInfo) -> MarketRules:
    """The risk manager's rules from ccxt market data (0 = unknown: the sim default step)."""
    return MarketRules(
        amount_step=info.amount_step or DEFAULT_RULES.amount_step,
        price_step=info.price_step or DEFAULT_RULES.price_step,
        min_qty=info.min_qty,
        min_notional=info.min_notional,
    )


@dataclass
class _Stream(CandleWindow):
    key: StreamKey
    feed: CcxtFeed
    step_ms: int
    started_ms: int
    subscribers: dict[str, tuple[Reader, frozenset[IndicatorSpec]]] = field(default_factory=dict)
    ts: Times = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ohlcv: Floats = field(default_factory=lambda: np.zeros((0, 5)))
    wants: dict[str, int] = field(default_factory=dict)  # subscriber -> bars it needs
    task: asyncio.Task[None] | None = None
    backfill: asyncio.Task[None] | None = None
    warmed: bool = False
    stale: bool = False
    failed: str = ""


class ExchangeStreams:
    """Every ccxt stream of one engine, and the shared ``ExchangeClients`` they read through.

    ``client_options`` are passed to ``ExchangeClients`` (config, configure, policy, sleep,
    breaker_threshold, breaker_cooldown_s, rng); the breaker listener is ours. The engine calls
    ``bind`` once (event publisher, its bots, its clock) and ``close`` on shutdown, which closes
    every ccxt client, the LIVE brokers' private ones included.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        poll_s: float = 5.0,
        stale_after_s: float = 60.0,
        retry_s: float = 5.0,
        use_stream: bool | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        poll_for: Mapping[str, float] | None = None,
        stale_for: Mapping[str, float] | None = None,
        ws_policy: RetryPolicy | None = None,
        ws_stall_s: float = 60.0,
        ws_retry_s: float = 60.0,
        **client_options: Any,
    ) -> None:
        self.clock = clock or WallClock()
        self.poll_s, self.stale_after_s, self.retry_s = poll_s, stale_after_s, retry_s
        self.poll_for = dict(poll_for or {})  # the user's polling period per exchange id
        self.stale_for = dict(stale_for or {})  # and when a price counts as stale
        # Websockets where ccxt.pro has the exchange, unless turned off (OXBOT_WEBSOCKETS=0):
        # ``ws_policy`` is the reconnect backoff (its ``retries`` tries, then REST polling),
        # ``ws_stall_s`` how long a silent connection is trusted, ``ws_retry_s`` how long REST
        # is polled before the websocket is tried again.
        self.use_stream = websockets_enabled() if use_stream is None else use_stream
        self.ws_policy = ws_policy or RetryPolicy(retries=5, base_s=1.0, max_s=30.0)
        self.ws_stall_s, self.ws_retry_s = ws_stall_s, ws_retry_s
        self._feeds: dict[StreamKey, str] = {}  # each stream's feed ("ws", "rest (...)")
        self._exchange_feed: dict[str, str] = {}  # and what each exchange was last said to use
        self._sleep = sleep
        self.clients = ExchangeClients(on_breaker_change=self._breaker_changed, **client_options)
        self._streams: dict[StreamKey, _Stream] = {}
        self._rules: dict[str, dict[str, MarketRules]] = {}
        self._publish: Callable[[Event], None] = lambda _e: None
        self._runners: Callable[[], Iterable[BreakerListener]] = lambda: ()
        self._paused: dict[str, set[str]] = {}  # exchange -> bots the breaker paused
        self._breaker_lock: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.feeds_opened = 0  # how many CcxtFeed objects were ever made (one per stream)
        self.computations: dict[StreamKey, int] = {}

    # ------------------------------------------------------------------ wiring

    def bind(
        self, publish: Callable[[Event], None], runners: Callable[[], Iterable[BreakerListener]]
    ) -> None:
        """Where Notices go and which bots hear of a breaker (called by the Engine)."""
        self._publish, self._runners = publish, runners

    def notice(self, level: str, message: str, bot: str = "") -> None:
        log.log(logging.WARNING if level != "info" else logging.INFO, "%s", message)
        self._publish(Notice(self.clock.now_ms(), level, message, bot))

    # ------------------------------------------------------------------ subscriptions

    def subscribe(
        self, sub: Reader, key: StreamKey, specs: frozenset[IndicatorSpec], bars: int = WINDOW
    ) -> None:
        stream = self._streams.get(key)
        if stream is None or (stream.task is not None and stream.task.done()):
            stream = self._open(key)
        stream.subscribers[sub.name] = (sub, specs)
        stream.wants[sub.name] = bars
        if (
            stream.warmed
            and len(stream.ts) < stream.window()
            and (stream.backfill is None or stream.backfill.done())
        ):
            # A reader that needs more history than the running stream holds
            stream.backfill = asyncio.create_task(
                self._backfill(stream), name=f"ccxt-backfill:{key}"
            )
        sub.market_fact(self._fact(stream))  # the joining bot learns the stream's state
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name="ccxt-stale-watch")

    def unsubscribe(self, sub: Reader) -> None:
        for key, stream in list(self._streams.items()):
            stream.subscribers.pop(sub.name, None)
            stream.wants.pop(sub.name, None)
            if not stream.subscribers:  # nobody reads it: stop polling the exchange
                for task in (stream.task, stream.backfill):
                    if task is not None:
                        task.cancel()
                del self._streams[key]
                if self._feeds.pop(key, None) is not None:
                    self._tell_feed(key.exchange)
                ws = stream.feed.ws
                if ws is not None and stream.feed.feed == "ws":  # the exchange stops sending it
                    task = asyncio.create_task(ws.unwatch(), name=f"ccxt-unwatch:{key}")
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    def _ws(self, exchange: str, symbol: str, timeframe: str) -> tuple[WsCandles | None, str]:
        """The websocket reader of a stream, or None and why (shown as "rest (<why>)")."""
        if not self.use_stream:
            return None, "ws off"
        client, why = self.clients.streaming(exchange)
        if client is None:
            log.info("%s: no websocket (%s); polling REST", exchange, why)
            return None, ""
        ws = WsCandles(
            client,
            symbol,
            timeframe,
            retries=self.ws_policy.retries,
            policy=self.ws_policy,
            stall_s=self.ws_stall_s,
            sleep=self._sleep,
            rng=self.clients.rng,
        )
        return ws, ""

    def _open(self, key: StreamKey) -> _Stream:
        ws, ws_off = self._ws(key.exchange, key.symbol, key.timeframe)
        feed = CcxtFeed(
            self.clients.public(key.exchange),
            key.symbol,
            key.timeframe,
            clients=self.clients,
            clock=self.clock,
            poll_s=self.poll_for.get(key.exchange, self.poll_s),
            stale_after_s=self.stale_for.get(key.exchange, self.stale_after_s),
            use_stream=self.use_stream,
            sleep=self._sleep,
            ws=ws,
            ws_off=ws_off,
            ws_retry_s=self.ws_retry_s,
            on_feed=lambda label: self._feed_changed(key, label),
        )
        self.feeds_opened += 1
        stream = _Stream(key, feed, timeframe_seconds(key.timeframe) * 1000, self.clock.now_ms())
        stream.task = asyncio.create_task(self._run(stream), name=f"ccxt:{key}")
        self._streams[key] = stream
        return stream

    # ------------------------------------------------------------------ reads for the engine

    def feed_of(self, exchange: str) -> str:
        """How the exchange's data arrives: "ws" when every stream of it reads the websocket,
        else the first REST one's label ("rest (ws down: ...)"); "" before any stream ran."""
        labels = [
            f
            for k, f in sorted(self._feeds.items(), key=lambda kv: str(kv[0]))
            if k.exchange == exchange
        ]
        return next((f for f in labels if f != "ws"), labels[0] if labels else "")

    def feeds(self) -> dict[str, str]:
        """Every exchange with a running stream -> ``feed_of`` it (for a snapshot)."""
        return {ex: self.feed_of(ex) for ex in sorted({k.exchange for k in self._feeds})}

    def _feed_changed(self, key: StreamKey, label: str) -> None:
        self._feeds[key] = label
        self._tell_feed(key.exchange)

    def _tell_feed(self, exchange: str) -> None:
        feed = self.feed_of(exchange)
        if feed == self._exchange_feed.get(exchange, ""):
            return
        before = self._exchange_feed.get(exchange, "")
        self._exchange_feed[exchange] = feed
        self._publish(MarketFeed(self.clock.now_ms(), exchange, feed))
        if before and feed:  # a switch: the log and a notice say it
            level = "info" if feed == "ws" else "warning"
            self.notice(level, f"{exchange} market data: {before} -> {feed}")
        elif feed.startswith("rest (ws down"):  # a websocket that never worked: said too
            self.notice("warning", f"{exchange} market data: {feed}")
        else:  # the first word, or no stream of it runs any more
            log.info("%s market data: %s", exchange, feed or "no stream")

    def last_price(self, key: StreamKey) -> float | None:
        s = self._streams.get(key)
        return None if s is None else s.feed.last_price

    def is_stale(self, key: StreamKey) -> bool:
        s = self._streams.get(key)
        return s is not None and s.stale

    def rules_for(self, exchange: str) -> Callable[[str], MarketRules]:
        """A synchronous lookup for ``RiskManager(rules=...)``: the exchange's rules once its
        markets are loaded (a stream's warm-up loads them), the default before."""

        def rules(symbol: str) -> MarketRules:
            return self._rules.get(exchange, {}).get(symbol, DEFAULT_RULES)

        return rules

    async def load_rules(self, exchange: str) -> Mapping[str, MarketRules]:
        """Load the exchange's markets once (cached by ExchangeClients) into risk rules."""
        if exchange not in self._rules:
            markets = await self.clients.markets(exchange)
            self._rules[exchange] = {s: rules_of(m) for s, m in markets.items()}
        return self._rules[exchange]

    # ------------------------------------------------------------------ one stream

    async def _run(self, s: _Stream) -> None:
        """The stream, until cancelled or a permanent error (a bad symbol). Any other
        exception (a bug, a reply of a shape nobody expected) ends in the "market data
        stopped" notice with the reason, and the stream starts again after ``retry_s``,
        doubling to a minute (never a silent task death)."""
        delay = self.retry_s
        while True:
            try:
                await self._stream(s)
                return
            except asyncio.CancelledError:
                raise
            except ExchangeError as e:  # permanent: a bad symbol, keys refused, ...
                self._fail(s, e)
                return
            except Exception as e:  # noqa: BLE001 - told, then tried again
                log.exception("%s: the stream failed", s.key)
                self._fail(s, e, f"; trying again in {delay:g}s")
            await self._sleep(delay)
            delay = min(max(delay, 0.001) * 2, 60.0)
            s.failed = ""

    async def _stream(self, s: _Stream) -> None:
        key = s.key
        warned = False
        while not s.warmed:  # warm-up: retried while the exchange is unreachable
            try:
                await self.load_rules(key.exchange)
                history = await s.feed.warmup(s.window())
            except TemporaryError as e:
                s.feed.last_error = str(e)
                if not warned:
                    self.notice(
                        "warning", f"{key}: cannot load markets or history yet ({e}); retrying"
                    )
                    warned = True
                await self._sleep(self.retry_s)
                continue
            for c in history:
                s.push(c)
            s.warmed = True
            if len(history) < s.window():  # a reader with a longer warm-up joined meanwhile
                await self._backfill(s)
            if history:
                self._send(s, FeedTick(history[-1].ts + s.step_ms, history[-1].close))
        async for item in s.feed.updates():
            if isinstance(item, FeedTick):
                self._send(s, item)
            else:
                self._bar(s, item)

    async def _backfill(self, s: _Stream) -> None:
        """Fetch older candles until the stream holds what its readers need (or the exchange
        has no more: the window then fills with live candles, and the bot says it is
        warming up meanwhile)."""
        while len(s.ts) and len(s.ts) < s.window():
            try:
                older = await s.feed.history_before(int(s.ts[0]), s.window() - len(s.ts))
            except ExchangeError as e:
                log.warning(
                    "%s: cannot fetch older candles (%s); the window fills with live ones", s.key, e
                )
                return
            if not older:
                return
            before = len(s.ts)
            s.prepend(older)
            if len(s.ts) == before:
                return

    def _fail(self, s: _Stream, e: Exception, then: str = "") -> None:
        s.failed = reason_of(e)
        if not isinstance(e, ExchangeError):
            s.failed = f"{type(e).__name__}: {s.failed}"
        names = ", ".join(sorted(s.subscribers)) or "no bot"
        self.notice("error", f"{s.key}: market data stopped: {s.failed} (bots: {names}){then}")

    def _send(self, s: _Stream, t: FeedTick) -> None:
        from .hub import Tick  # noqa: PLC0415 - hub imports this module

        tick = Tick(s.key, t.ts, t.price)
        for sub, _ in list(s.subscribers.values()):
            sub.inbox.put_nowait(tick)

    def _bar(self, s: _Stream, c: Candle) -> None:
        from .hub import Bar  # noqa: PLC0415

        s.push(c)  # indicators updated once per close, shared by every bot (window.py)
        self.computations[s.key] = self.computations.get(s.key, 0) + 1
        bar = Bar(s.key, c, s.view(s.key), c.ts + s.step_ms)
        for sub, _ in list(s.subscribers.values()):
            sub.inbox.put_nowait(bar)

    # ------------------------------------------------------------------ stale prices

    async def _watch(self) -> None:
        period = max(0.01, min(self.poll_s, *self.poll_for.values(), 1.0))
        while self._streams:
            self.check_stale()
            await asyncio.sleep(period)

    def check_stale(self) -> None:
        """Turn stale/live transitions into Notices and facts for the stream's readers."""
        now = self.clock.now_ms()
        for s in list(self._streams.values()):
            if s.failed:
                continue
            old_enough = now - s.started_ms >= s.feed.stale_after_s * 1000
            stale = s.feed.is_stale and old_enough
            if stale == s.stale:
                continue
            s.stale = stale
            if stale:
                last = s.feed.last_price
                since = (
                    ""
                    if s.feed.last_ok_ts is None
                    else f" for {(now - s.feed.last_ok_ts) / 1000:.0f}s"
                )
                # never "the last price None": a stream that never had one says so
                uses = (
                    f"stop-loss and take-profit use the last price {last}"
                    if last is not None
                    else "no price has arrived yet, so stop-loss and take-profit cannot act"
                )
                self.notice(
                    "warning",
                    f"{s.key}: price is STALE (no update{since}: "
                    f"{s.feed.last_error or 'no answer'}); {uses}",
                )
            else:
                self.notice("info", f"{s.key}: price is live again ({s.feed.last_price})")
            fact = self._fact(s)
            for sub, _ in list(s.subscribers.values()):
                sub.market_fact(fact)

    @staticmethod
    def _fact(s: _Stream) -> PriceFact:
        if s.stale:
            return PriceStale(s.key, s.feed.last_ok_ts, s.feed.last_error or "no answer")
        return PriceLive(s.key)

    # ------------------------------------------------------------------ circuit breaker

    def _breaker_changed(
        self, name: str, old: BreakerState, new: BreakerState, reason: str
    ) -> None:
        if new is BreakerState.HALF_OPEN:
            log.info("%s: breaker half-open (%s)", name, reason)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(
            self._pause(name, reason) if new is BreakerState.OPEN else self._resume(name, reason)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _pause(self, exchange: str, reason: str) -> None:
        async with self._breaker_lock.setdefault(exchange, asyncio.Lock()):
            paused = self._paused.setdefault(exchange, set())
            fact = ExchangeUnreachable(exchange, reason)
            for r in list(self._runners()):
                if await r.exchange_fact(fact):
                    paused.add(r.name)
            names = ", ".join(sorted(paused)) or "none"
            self.notice(
                "warning",
                f"{exchange} circuit breaker OPEN ({reason}); bots paused "
                f"until it answers again: {names}",
            )

    async def _resume(self, exchange: str, reason: str) -> None:
        async with self._breaker_lock.setdefault(exchange, asyncio.Lock()):
            paused = self._paused.pop(exchange, set())
            fact = ExchangeReachable(exchange, reason, tuple(sorted(paused)))
            resumed = [r.name for r in list(self._runners()) if await r.exchange_fact(fact)]
            self.notice(
                "info",
                f"{exchange} circuit breaker closed ({reason}); bots resumed: "
                f"{', '.join(sorted(resumed)) or 'none'}",
            )

    # ------------------------------------------------------------------ shutdown

    async def stop_streams(self) -> None:
        """Cancel every stream task (the hub stops)."""
        tasks = [t for s in self._streams.values() for t in (s.task, s.backfill) if t is not None]
        tasks += [t for t in (self._watchdog, *self._background) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop the streams and close every ccxt client (public and private)."""
        await self.stop_streams()
        await self.clients.close_all()


__all__ = ["ExchangeStreams", "rules_of"]
