"""MarketHub: one candle stream and one indicator computation per (exchange, symbol, timeframe)
per candle close, shared by every bot that reads it.

Bots never fetch. They subscribe with the streams they read and the indicator specs they need;
the hub puts `Tick` (prices between closes, for SL/TP) and `Bar` (a closed candle with the shared
window: a `MarketView` of the candles and indicators, window.py) items into each subscriber's
inbox. Indicators are updated once per candle per stream, in O(1) (incremental.py). In lockstep
mode (sim at max speed) the hub waits until every subscriber has handled a step before producing
the next, so replays are deterministic and no bot falls behind; a subscriber with
``takes_batches = True`` then gets each step's ticks and bars as one list, handed to its ``step``
(handled at once when the subscriber is idle: no inbox item, no task switch).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from ..arrays import Floats, Times
from ..errors import ConfigError
from ..fastinit import fast_init
from ..foreground import Foreground
from ..messages import Event, PriceFact
from ..models import Candle, StreamKey, timeframe_seconds
from ..risk import MarketRules
from .indicators import IndicatorSpec
from .sim import CsvSeries, SimConfig, SyntheticSeries, intra_candle_prices
from .view import MarketView, as_view
from .window import MAX_WINDOW, WINDOW, CandleWindow

if TYPE_CHECKING:  # ccxt at run time: only a hub with real exchanges imports it
    import pandas as pd  # pandas: where a frame is first built (MarketView.frame)

    from .ccxt_streams import ExchangeStreams

log = logging.getLogger("oxbot.market")


@fast_init
@dataclass(frozen=True, slots=True)
class Tick:
    key: StreamKey
    ts: int
    price: float


class Bar:
    """A closed candle with the stream's window: ``view`` (a ``MarketView``, shared by every
    reader, read-only) and ``frame`` (its pandas frame, built on first use and cached).
    ``data`` may also be a ready frame (wrapped in a ``FrameView``)."""

    __slots__ = ("candle", "close_ts", "key", "view")

    def __init__(
        self, key: StreamKey, candle: Candle, data: MarketView | pd.DataFrame, close_ts: int
    ) -> None:
        self.key = key
        self.candle = candle
        self.view = as_view(data, key)
        self.close_ts = close_ts  # the candle's close time (ms)

    @property
    def frame(self) -> pd.DataFrame:
        """ts, open..volume and indicator columns (shared, read-only)."""
        return self.view.frame()


class Subscriber(Protocol):
    """A bot reading the hub: bars and ticks arrive in its inbox; a live exchange stream also
    tells it when a price goes stale or live (``market_fact``)."""

    name: str
    inbox: asyncio.Queue[Any]

    def market_fact(self, fact: PriceFact) -> None: ...


class BatchSubscriber(Subscriber, Protocol):
    """A subscriber with ``takes_batches = True``: a lockstep candle goes to ``step``."""

    def step(self, items: list[Tick | Bar]) -> asyncio.Future[Any] | None: ...


class Series(Protocol):
    def next(self) -> Candle | None: ...


class CandleRecorder(Protocol):
    """Keeps the candles of the synthetic sim streams (app/candle_record.py: the candle cache),
    so what a sim bot saw can be backtested and replayed later: the generator's warm-up
    history when a stream opens, then each closed candle. Called on the engine's loop."""

    def history(self, key: StreamKey, ts: Times, ohlcv: Floats) -> None: ...

    def add(self, key: StreamKey, candle: Candle) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Stream(CandleWindow):
    key: StreamKey
    series: Series
    step_ms: int
    next_close: int
    ts: Times
    ohlcv: Floats  # shape (n, 5)
    subscribers: dict[str, tuple[Subscriber, frozenset[IndicatorSpec]]] = field(
        default_factory=dict
    )
    wants: dict[str, int] = field(default_factory=dict)  # subscriber -> bars it needs
    ended: bool = False
    live_candles: int = 0
    recorded: bool = False  # a synthetic stream whose candles the hub's recorder keeps
    # A candle read ahead of its close: the series skipped candles (a gap in a CSV), so it
    # waits for its own close time instead of being stamped with the schedule's.
    pending: Candle | None = None

    def take(self, close_ts: int) -> Candle | None:
        """The candle closing at ``close_ts``; None at the end of the series, or (with
        ``next_close`` moved to its own close) when the next candle closes later."""
        c, self.pending = self.pending, None
        while True:
            if c is None:
                c = self.series.next()
                if c is None:
                    return None
            own_close = int(c.ts) + self.step_ms
            if own_close == close_ts:
                return c
            if own_close > close_ts:  # a gap: the candle waits for its close
                self.pending, self.next_close = c, own_close
                return None
            c = None  # older than the schedule (a repeated row): dropped


# A stored sim price further than this factor from where the generator stands is not a price
# the sim can have produced (the generator keeps prices within a few x of the base): garbage.
ANCHOR_BAND = 50.0


def anchor_factor(key: StreamKey, stored: Any, current: float) -> float | None:
    """The factor that moves a fresh sim path from ``current`` to the ``stored`` last close of
    the previous run, or None (with a warning) when either is not a sane price: a zero, a
    negative, NaN, text or a price far outside the sim's range never reaches the market."""
    try:
        value = float(stored)
    except (TypeError, ValueError):
        value = math.nan
    factor = value / current if math.isfinite(current) and current > 0 else math.nan
    if not (math.isfinite(factor) and 1 / ANCHOR_BAND <= factor <= ANCHOR_BAND):
        log.warning(
            "%s: stored last price %r is not usable; the stream starts afresh at %s",
            key,
            stored,
            current,
        )
        return None
    return factor


class MarketHub:
    """Sim streams run by the conductor below (lockstep or paced); streams of real exchanges
    (``key.exchange != "sim"``) are delegated to ``exchanges`` (an ``ExchangeStreams``), which
    runs them in real time."""

    def __init__(
        self,
        sim: SimConfig | None = None,
        now_ms: Callable[[], int] | None = None,
        exchanges: ExchangeStreams | None = None,
        recorder: CandleRecorder | None = None,
    ) -> None:
        self.sim = sim or SimConfig()
        self.exchanges = exchanges  # ccxt_streams.ExchangeStreams, or None: sim only
        self.recorder = recorder
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._anchors: dict[str, tuple[int, Any]] = {}  # str(key) -> stored last close
        self._streams: dict[StreamKey, _Stream] = {}
        self._changed = asyncio.Event()
        self.fetches: Counter[StreamKey] = Counter()  # candles fetched per stream
        self.computations: Counter[StreamKey] = Counter()  # indicator frames per stream
        self.virtual_ms: int | None = None
        # (wall clock, virtual ms) when paced replay began: later candles are due at a fixed rate
        self._wall_anchor: tuple[float, int] | None = None
        self._start_ts: int | None = None
        # An in-process cockpit drawing a frame: the conductor naps between candles meanwhile
        self.foreground: Foreground | None = None

    # ------------------------------------------------------------------ subscriptions

    def subscribe(
        self,
        sub: Subscriber,
        keys: Iterable[StreamKey],
        specs: Iterable[IndicatorSpec],
        bars: int = WINDOW,
    ) -> None:
        """``sub`` reads ``keys`` with the indicators ``specs``, in frames of at least ``bars``
        candles (its strategy's warm-up: a stream keeps up to MAX_WINDOW)."""
        spec_set = frozenset(specs)
        keys = list(keys)
        for key in keys:  # all or nothing: check before subscribing to any
            if key.exchange != "sim" and self.exchanges is None:
                raise ConfigError(
                    f"exchange {key.exchange!r}: this engine was started with the built-in "
                    "'sim' market only; start it with exchange access (oxbot run)"
                )
        for key in keys:
            if key.exchange != "sim":
                assert self.exchanges is not None  # checked above, before any subscription
                self.exchanges.subscribe(sub, key, spec_set, bars)
                continue
            stream = self._streams.get(key) or self._open_stream(key, bars)
            stream.subscribers[sub.name] = (sub, spec_set)
            stream.wants[sub.name] = bars
            stream.sync_specs()  # a new indicator is seeded from the window now
        self._changed.set()

    def unsubscribe(self, sub: Subscriber) -> None:
        for stream in self._streams.values():
            stream.subscribers.pop(sub.name, None)
            stream.wants.pop(sub.name, None)
        if self.exchanges is not None:
            self.exchanges.unsubscribe(sub)

    def bind(self, publish: Callable[[Event], None], runners: Callable[[], Iterable[Any]]) -> None:
        """Engine hooks for real exchanges: where Notices go, which bots a breaker pauses."""
        if self.exchanges is not None:
            self.exchanges.bind(publish, runners)

    def rules_for(self, exchange: str) -> Callable[[str], MarketRules] | None:
        """``RiskManager`` market rules for a bot's exchange (None: sim defaults)."""
        if exchange == "sim" or self.exchanges is None:
            return None
        return self.exchanges.rules_for(exchange)

    async def close(self) -> None:
        """Close every exchange client (engine shutdown, after the brokers)."""
        if self.exchanges is not None:
            await self.exchanges.close()

    def last_price(self, key: StreamKey) -> float | None:
        if key.exchange != "sim" and self.exchanges is not None:
            return self.exchanges.last_price(key)
        s = self._streams.get(key)
        return None if s is None or not len(s.ohlcv) else float(s.ohlcv[-1, 3])

    def feeds(self) -> dict[str, str]:
        """exchange -> how its market data arrives (real exchanges only: the sim has none)."""
        return {} if self.exchanges is None else self.exchanges.feeds()

    def resume_from(self, ts: int, marks: Mapping[str, tuple[int, Any]] | None = None) -> None:
        """Start sim streams at ``ts`` (a restart continues where the ledger stopped), each
        synthetic stream at its stored last close (``marks``: str(key) -> (ts, close)), so the
        price path goes on instead of jumping back to the seed's start."""
        if ts and (self._start_ts is None or ts > self._start_ts):
            self._start_ts = ts
        self._anchors.update(marks or {})

    def marks(self) -> dict[str, tuple[int, Decimal]]:
        """The last closed candle of each synthetic sim stream, to store (see resume_from).
        Only positive, finite prices: a restart must never continue from garbage."""
        out = {}
        for key, s in self._streams.items():
            if key.exchange == "sim" and key.symbol not in self.sim.csv and len(s.ts):
                close = float(s.ohlcv[-1, 3])
                if math.isfinite(close) and close > 0:
                    out[str(key)] = (int(s.ts[-1]) + s.step_ms, Decimal(repr(close)))
        return out

    def _origin(self) -> int:
        if self._start_ts is None:
            start = self.sim.start_ts
            if start is None:
                start = (self._now_ms() // 60_000) * 60_000
            self._start_ts = start
        return self._start_ts

    def _open_stream(self, key: StreamKey, bars: int = WINDOW) -> _Stream:
        step = timeframe_seconds(key.timeframe) * 1000
        base = self.virtual_ms if self.virtual_ms is not None else self._origin()
        start = (base // step) * step  # first live candle opens here
        # A synthetic stream starts with MAX_WINDOW bars of history, whoever subscribes first:
        # the price path does not depend on the bots, and a long warm-up is served at once. A
        # CSV replay spends only what its first reader needs of the file on history.
        history_start = start - MAX_WINDOW * step
        series: Series
        if key.symbol in self.sim.csv:
            series = CsvSeries(self.sim.csv[key.symbol], key.timeframe, None)
            count = min(MAX_WINDOW, max(WINDOW, bars))
        else:
            series = SyntheticSeries(self.sim.seed, key.symbol, key.timeframe, history_start)
            count = MAX_WINDOW
        if isinstance(series, SyntheticSeries):
            ts, ohlcv = series.take(count)
            anchor = self._anchors.get(str(key))
            factor = None if anchor is None else anchor_factor(key, anchor[1], float(ohlcv[-1, 3]))
            if factor is not None:
                ohlcv = series.scaled_rows(ohlcv, factor)
                series.rescale(factor)
        else:
            history = []
            for _ in range(count):
                c = series.next()
                if c is None:
                    break
                history.append(c)
            ts = np.array([c.ts for c in history], dtype=np.int64)
            ohlcv = np.array(
                [[c.open, c.high, c.low, c.close, c.volume] for c in history], dtype=float
            ).reshape(-1, 5)
        next_close = (int(ts[-1]) + 2 * step) if len(ts) else start + step
        stream = _Stream(key, series, step, next_close, ts, ohlcv)
        if self.recorder is not None and isinstance(series, SyntheticSeries):
            stream.recorded = True
            self._record(lambda r: r.history(key, ts, ohlcv))
        self._streams[key] = stream
        self.fetches[key] += 1  # the warm-up history is one fetch
        return stream

    # ------------------------------------------------------------------ the conductor

    async def run(self) -> None:
        """Advance every sim stream in virtual time until cancelled (exchange streams run on
        their own tasks; they stop here too)."""
        try:
            await self._conduct()
        finally:
            if self.recorder is not None:
                self._record(lambda r: r.close())
            if self.exchanges is not None:
                await self.exchanges.stop_streams()

    def _record_candle(self, key: StreamKey, candle: Candle) -> None:
        self._record(lambda r: r.add(key, candle))

    def _record(self, call: Callable[[CandleRecorder], None]) -> None:
        """Keeping candles is a convenience: a full disk says so once and stops it, trading
        goes on."""
        recorder = self.recorder
        if recorder is None:
            return
        try:
            call(recorder)
        except OSError as e:
            self.recorder = None
            log.warning("sim candles are no longer kept (backtests of sim bots need --csv): %s", e)

    async def _conduct(self) -> None:
        lockstep = self.sim.speed is None
        while True:
            live = [s for s in self._streams.values() if not s.ended and s.subscribers]
            if not live:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self.wait_turn()
            close_ts = min(s.next_close for s in live)
            due = [s for s in live if s.next_close == close_ts]
            prev = self.virtual_ms if self.virtual_ms is not None else close_ts - due[0].step_ms
            candles: list[tuple[_Stream, Candle]] = []
            for s in due:
                c = s.take(close_ts)
                if c is None and s.pending is not None:
                    continue  # a gap in this stream: no bar at this close
                if c is None or (
                    self.sim.max_candles is not None and s.live_candles >= self.sim.max_candles
                ):
                    s.ended = True
                    log.info("stream %s ended", s.key)
                    continue
                s.live_candles += 1
                self.fetches[s.key] += 1
                candles.append((s, c))
            if not candles:
                continue
            # Ticks inside the candle: four prices, spaced in real time when not lockstep.
            # Lockstep: a subscriber that takes batches (a BotRunner) gets the candle's ticks
            # and bar as ONE inbox item, a list in the order they would have come one by one.
            batches: dict[str, tuple[BatchSubscriber, list[Tick | Bar]]] = {}
            # Lockstep: nothing awaits until the batches are handed over, so each stream's
            # readers (and where their items go) are looked up once per candle.
            # (keyed by the stream object: a StreamKey's hash is a tuple's, made anew per call)
            sinks = {id(s): self._sinks(s, batches) for s, _ in candles} if lockstep else {}
            paths = [(s, intra_candle_prices(c)) for s, c in candles]
            for phase in range(4):
                if not lockstep:
                    await self._sleep_until(prev + (close_ts - prev) * phase // 4)
                for s, prices in paths:
                    tick = Tick(
                        s.key, close_ts - s.step_ms + (s.step_ms * phase) // 4, prices[phase]
                    )
                    if lockstep:
                        _deliver(sinks[id(s)], tick)
                        continue
                    for sub, _ in list(s.subscribers.values()):
                        self._send(sub, tick, None)
            if not lockstep:
                await self._sleep_until(close_ts)
            self.virtual_ms = close_ts
            touched: dict[str, Subscriber] = {}
            for s, c in candles:
                s.push(c)  # the indicators are updated with the candle (window.py)
                if s.recorded and self.recorder is not None:
                    self._record_candle(s.key, c)
                self.computations[s.key] += 1
                bar = Bar(s.key, c, s.view(s.key), close_ts)
                if lockstep:
                    _deliver(sinks[id(s)], bar)
                    for sub, _ in sinks[id(s)]:
                        touched[sub.name] = sub
                else:
                    for sub, _ in list(s.subscribers.values()):
                        self._send(sub, bar, None)
                        touched[sub.name] = sub
                s.next_close = close_ts + s.step_ms
            # A batch reader handles its candle now if it is idle (``step``), else through its
            # inbox; what had to wait (a lock, a write) finishes as a task.
            waiting = []
            for sub, items in batches.values():
                if self.foreground is not None and self.foreground.is_busy:
                    await self.wait_turn()  # an in-process cockpit draws: bot by bot, as before
                if (t := sub.step(items)) is not None:
                    waiting.append(t)
            if lockstep:
                if waiting:
                    await asyncio.wait(waiting)
                for sub in touched.values():  # every reader has handled the candle
                    if sub.name not in batches:  # (a batch reader's wait is ``waiting``)
                        await sub.inbox.join()
                # Once per candle the loop runs what else is ready (a command, an event reader):
                # a candle handled at once by every reader awaited nothing above.
                await asyncio.sleep(self.sim.yield_s or 0)
            else:
                await asyncio.sleep(0)

    @staticmethod
    def _sinks(
        s: _Stream, batches: dict[str, tuple[BatchSubscriber, list[Tick | Bar]]]
    ) -> list[tuple[Subscriber, list[Tick | Bar] | None]]:
        """Each reader of ``s`` with its batch (created here), or None: into its inbox."""
        out: list[tuple[Subscriber, list[Tick | Bar] | None]] = []
        for sub, _ in list(s.subscribers.values()):
            if not getattr(sub, "takes_batches", False):
                out.append((sub, None))
                continue
            entry = batches.get(sub.name)
            if entry is None:
                batches[sub.name] = entry = (cast(BatchSubscriber, sub), [])
            out.append((sub, entry[1]))
        return out

    @staticmethod
    def _send(
        sub: Subscriber,
        item: Tick | Bar,
        batches: dict[str, tuple[BatchSubscriber, list[Tick | Bar]]] | None,
    ) -> None:
        """Into ``sub``'s inbox now, or into its batch (lockstep, ``takes_batches``)."""
        if batches is None or not getattr(sub, "takes_batches", False):
            sub.inbox.put_nowait(item)
            return
        entry = batches.get(sub.name)
        if entry is None:
            batches[sub.name] = entry = (cast(BatchSubscriber, sub), [])
        entry[1].append(item)

    async def wait_turn(self) -> None:
        """Step aside while an in-process cockpit draws (engine/foreground.py): only a lockstep
        (max-speed) replay, which never waits on anything else, needs to."""
        if self.foreground is not None and self.sim.speed is None:
            await self.foreground.wait_turn()

    async def _sleep_until(self, vts: int) -> None:
        speed = self.sim.speed or 1.0
        if self.virtual_ms is None:
            self.virtual_ms = vts
            self._wall_anchor = (time.monotonic(), vts)
            return
        if self._wall_anchor is None:
            self._wall_anchor = (time.monotonic(), self.virtual_ms)
        wall0, v0 = self._wall_anchor
        target = wall0 + (vts - v0) / 1000 / speed
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def _deliver(sinks: list[tuple[Subscriber, list[Tick | Bar] | None]], item: Tick | Bar) -> None:
    for sub, batch in sinks:
        if batch is None:
            sub.inbox.put_nowait(item)
        else:
            batch.append(item)
