"""BotRunner: one bot as its own task on the engine loop.

It reads its inbox (ticks and closed bars from the MarketHub), checks SL/TP on every price,
and on each due candle close runs one cycle: decide -> risk check -> broker -> ledger -> storage
(one transaction) -> events. A failing cycle is counted and retried at the next one; it never
touches another bot.
"""

from __future__ import annotations

import asyncio
import decimal
import functools
import logging
import math
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .broker import Broker, Execution
from .bus import EventBus
from .errors import AuthError, BudgetExceeded, OxbotError, StrategyExit
from .hold import withheld
from .ledger import LedgerWriter, split
from .market.hub import Bar, Tick
from .market.view import MarketView
from .messages import (
    BotStateChanged,
    BotView,
    CandleClosed,
    CycleFailed,
    DecisionMade,
    EquitySampled,
    ExchangeFact,
    ExchangeUnreachable,
    Notice,
    PositionView,
    PriceFact,
    PriceStale,
    ReasoningChunk,
    ReasoningStarted,
)
from .models import (
    ZERO,
    Action,
    BotConfig,
    BotStatus,
    Decision,
    DecisionRecord,
    EquityPoint,
    Fill,
    Order,
    OrderIntent,
    OrderReason,
    Position,
    Side,
    StreamKey,
    Verdict,
    VerdictStatus,
    cron_next_ms,
    to_decimal,
)
from .portfolio import Portfolio
from .ports import BotLedger, BrokerPort
from .risk import MarketRules, RiskManager, hold_expired, sellable, stop_hit
from .strategies import DecisionContext, Strategy
from .strategies.base import rule_decision_of
from .textsafe import storable

if TYPE_CHECKING:  # pandas when a frame is first built (MarketView.frame), not on import
    import pandas as pd

log = logging.getLogger("oxbot.bot")

EQUITY_FLUSH = 60  # equity points buffered before a write when nothing else is written
MEMORY = 20  # recent decisions kept for strategies (the LLM's memory)
SETTLE = "settle"  # an inbox item: the broker has orders due a lookup


_HOLD = Action.HOLD
_VALUE = {a: a.value for a in Action}  # (an enum's ``.value`` is a property: per candle here)

# indicator names whose columns are moving averages of the price (drawn over the candles)
MA_INDICATORS = frozenset({"sma", "ema"})


class BotRunner:
    takes_batches = True  # a lockstep hub hands one list per candle (engine/market/hub.py)

    def __init__(
        self,
        config: BotConfig,
        strategy: Strategy,
        portfolio: Portfolio,
        broker: BrokerPort,
        store: BotLedger,
        bus: EventBus,
        new_id: Callable[[], str],
        status: BotStatus = BotStatus.STOPPED,
        memory: list[DecisionRecord] | None = None,
        reload: Callable[[], Awaitable[Portfolio]] | None = None,
        rules: Callable[[str], MarketRules] | None = None,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.strategy = strategy
        # the one writer of the bot's fills; it holds the portfolio (see ``portfolio``)
        self.ledger = LedgerWriter(
            self.name,
            portfolio,
            store,
            bus,
            position_view=self._pos_view,
            reload=reload,
            lost=self._ledger_lost,
        )
        self.risk = RiskManager(config.risk, config.fee_rate, rules)  # exchange steps, minimums
        self.broker = broker
        self.store = store
        self.bus = bus
        self.new_id = new_id
        self.status = status
        self.inbox: asyncio.Queue[Tick | Bar | str | list[Tick | Bar]] = asyncio.Queue()
        self.marks: dict[str, Decimal] = {}
        self.views: dict[str, MarketView] = {}  # symbol -> the newest bar's window
        self.frames: Mapping[str, pd.DataFrame] = LazyFrames(self.views)
        self.bar_ts: dict[str, int] = {}
        self.memory: deque[DecisionRecord] = deque(memory or [], maxlen=MEMORY)
        self.cycles = self.errors = self.consecutive_errors = 0
        self.last_decision_ts: int | None = None
        self.last_cycle_ts: int | None = None
        self.next_cycle_ts: int | None = None
        self._cron_due: int | None = None  # the cron time the next cycle waits for (ms)
        self._start_pending = False  # run_on_start: decide at the next market input
        self._retry_at: int | None = None  # a failed cycle is tried again at this time (ms)
        self._cycle_ts: int | None = None  # the cycle running (or the one that just failed)
        self.last_error = ""
        # Today's opening equity (market clock), deposits and withdrawals since added: today's
        # P&L is equity minus this. Before any sample: what the wallet holds at cost.
        self.day_start_equity: Decimal = portfolio.equity({})
        self._day: int | None = None
        self.last_sample_ts: int | None = None  # the newest equity sample, stored or not
        self._equity_buf: list[EquityPoint] = []
        self._ma_of: Strategy | None = None  # the strategy ``_ma_cols`` were read from
        self._ma_cols: tuple[str, ...] = ()
        # a broker with orders to look up (LIVE): a paper broker never leaves one
        self._settles = type(broker).settle is not Broker.settle
        self._behind: asyncio.Task[Any] | None = None  # samples handed to the writer (not awaited)
        self._decide_task: asyncio.Task[Decision] | None = None
        self.lock = asyncio.Lock()  # held while orders are executed and written
        self.task: asyncio.Task[None] | None = None
        self._step_task: asyncio.Task[None] | None = None  # a lockstep candle left waiting
        self._busy = False  # an inbox item or a lockstep candle is being handled
        self.pause_reason = ""  # why the last pause not made by the user (shown in the view)
        self.stale: dict[StreamKey, PriceStale] = {}  # streams whose price stopped updating
        self._pace = pace  # awaited before each inbox item: a replay steps aside for the UI
        self._rules = rules or (lambda _s: MarketRules())
        self._settle_task: asyncio.Task[None] | None = None
        self._not_ready_said = ""
        self.flatten_pending = False  # a flatten met an unresolved order: redone when it settles
        self.budget_paused = False  # paused by the LLM budget: resumes at the new UTC day
        # "" or why new decisions are held engine-wide (a PANIC confirmation on screen)
        self.held: Callable[[], str] = lambda: ""

    # ------------------------------------------------------------------ lifecycle

    @property
    def portfolio(self) -> Portfolio:
        """What the ledger holds (rebuilt from storage after a failed write)."""
        return self.ledger.portfolio

    @property
    def active(self) -> bool:
        return self.status in (BotStatus.RUNNING, BotStatus.PAUSED)

    def start_task(self) -> None:
        if self.status is BotStatus.RUNNING:  # a start, or a resume at the engine's start
            self._on_start()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name=f"bot:{self.name}")

    async def halt(self) -> None:
        """Stop for real: abort a pending decision, wait out an order being written, end the task.
        After this returns no order can be placed by this bot."""
        if self._decide_task and not self._decide_task.done():
            self._decide_task.cancel()
        async with self.lock:
            for task in (self.task, self._step_task):
                if task and not task.done():
                    task.cancel()
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
            self.task = self._step_task = None
        await self._behind_done()
        await self.save_risk_state()
        await self.flush_equity()
        while not self.inbox.empty():  # let a lockstep market move on
            self.inbox.get_nowait()
            self.inbox.task_done()

    async def _run(self) -> None:
        while True:
            item = await self.inbox.get()
            self._busy = True
            try:
                if self._pace is not None:
                    await self._pace()  # inside the try: a halt here still marks the item done
                if isinstance(item, list):  # a lockstep candle: its ticks and bars, in order
                    await self._take(item)
                else:
                    _default_decimals()
                    await self._handle(item)
            finally:
                self._busy = False
                self.inbox.task_done()

    def step(self, items: list[Tick | Bar]) -> asyncio.Future[Any] | None:
        """A lockstep candle handed over directly (engine/market/hub.py): handled now, without
        the inbox and a task switch, while the bot is idle. Returns None when it was handled
        to the end; else the task finishing it (it waited on the bot's lock, the broker or the
        ledger), which the hub waits for before the next candle. A bot that is busy (an inbox
        item, a previous step) gets the candle through its inbox (items keep their order) and
        the task returned ends when the inbox is done."""
        if self._busy or not self.inbox.empty() or self.task is None or self.task.done():
            self.inbox.put_nowait(items)
            return asyncio.ensure_future(self.inbox.join())
        coro = self._take(items)
        try:
            pending = coro.send(None)
        except StopIteration:
            return None
        self._busy = True
        self._step_task = asyncio.ensure_future(_finish(coro, pending))
        self._step_task.add_done_callback(self._step_done)
        return self._step_task

    def _step_done(self, _task: asyncio.Task[None]) -> None:
        self._busy = False
        self._step_task = None

    async def _take(self, items: list[Tick | Bar]) -> None:
        """One lockstep candle: its ticks and bars, in order."""
        _default_decimals()
        # With nothing held and no cycle due on a tick, a tick only moves a mark that its
        # stream's bar, later in the same batch, sets to the close (the tick path's last price).
        flat = self.portfolio.flat and not self._tick_may_cycle()
        for one in items:
            if type(one) is Tick:
                if flat or self._tick_at_rest(one):
                    continue  # no stop to check: no coroutine for it
                await self._handle(one)
            elif type(one) is Bar:
                # As ``_handle(bar)`` does, without its coroutines when nothing waits (a rule's
                # hold, no exit): the bar's work up to its first wait runs here.
                try:
                    rest = self._bar(one)
                    if rest is not None:
                        await rest
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - one bot's failure never stops the engine
                    await self._handle_failure(e)
            else:
                await self._handle(one)
            flat = self.portfolio.flat and not self._tick_may_cycle()

    async def _handle(self, item: Tick | Bar | str) -> None:
        try:
            if isinstance(item, Tick):
                await self._on_tick(item)
            elif isinstance(item, str):
                await self.settle(self.last_cycle_ts or 0)
            else:
                await self._on_bar(item)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - one bot's failure never stops the engine
            await self._handle_failure(e)

    async def _handle_failure(self, e: Exception) -> None:
        """A failed item: counted and reported (``_failed``); an errored bot remembers it."""
        self._failed(e)
        if self.status is BotStatus.ERROR:
            try:  # remembered: an errored bot does not resume on restart
                await self.store.set_bot_status(self.name, BotStatus.ERROR)
            except OxbotError as err:  # a full disk, said in words: no traceback
                log.warning("bot %s: cannot store the error state: %s", self.name, err)
            except Exception:  # noqa: BLE001
                log.exception("bot %s: cannot store the error state", self.name)

    # ------------------------------------------------------------------ market input

    async def _on_tick(self, tick: Tick) -> None:
        sym = tick.key.symbol
        price = _price(tick.price)
        self.marks[sym] = price
        # The stop first: it is a comparison, while "tradable" (dust or not) costs Decimal
        # arithmetic, and this runs on every price of every symbol.
        pos = self.portfolio.position(sym)
        hit = stop_hit(pos, price, price, price) if pos is not None and self.active else None
        if hit and pos is not None and self.tradable(sym) is not None and self._may_exit(sym):
            await self._exit(pos, hit[0], hit[1], tick.ts)
        if self._tick_may_cycle() and self._ready() and self._due(tick.ts):
            await self.cycle(tick.ts)

    def _tick_at_rest(self, tick: Tick) -> bool:
        """Move the mark; True when that was all ``_on_tick`` would do (no stop reached, no
        cycle due on a tick), so the tick needs no coroutine."""
        sym = tick.key.symbol
        price = self.marks[sym] = _price(tick.price)
        if self._tick_may_cycle():
            return False
        pf = self.portfolio
        if not pf.holds(sym) or not self.active:
            return True
        pos = pf.position(sym)
        return pos is None or stop_hit(pos, price, price, price) is None

    def _on_start(self) -> None:
        """Started or resumed: a cron waits for its next time from now on (times missed while
        stopped are not made up), and ``run_on_start`` decides at the next market input."""
        self._cron_due = None
        self._start_pending = self.config.run_on_start

    def _tick_may_cycle(self) -> bool:
        """A tick starts a cycle only for a running bot waiting on a cron time, a retry or a
        start (``_due``); candle-close bots decide on bars alone, as before."""
        return self.status is BotStatus.RUNNING and (
            bool(self.config.cron) or self._start_pending or self._retry_at is not None
        )

    def _ready(self) -> bool:
        """Every symbol has a closed candle's window to decide on."""
        return all(s in self.views for s in self.config.symbols)

    async def _on_bar(self, bar: Bar) -> None:
        rest = self._bar(bar)
        if rest is not None:
            await rest

    def _bar(self, bar: Bar) -> Coroutine[Any, Any, None] | None:
        """A closed candle, handled up to its first wait: None when that was all (the common
        case: no exit, a rule's hold), else the coroutine that does the rest, in order. The
        order: the marks and the candle event, a stop or time exit (on the candle's range),
        then once every symbol's bar is in, the equity sample, the kill switches' state, a
        budget resume, and the decision cycle when one is due."""
        sym = bar.key.symbol
        c = bar.candle
        self.marks[sym] = _price(c.close)
        self.views[sym] = bar.view
        self.bar_ts[sym] = bar.close_ts
        self._publish_candle(bar)
        # A closed candle's full range: catches a level only the wicks reached.
        pf = self.portfolio
        pos = pf.position(sym) if pf.holds(sym) else None
        hit = (
            stop_hit(pos, _price(c.low), _price(c.high))
            if pos is not None and self.active
            else None
        )
        if hit and pos is not None and self.tradable(sym) is not None and self._may_exit(sym):
            return self._exit_then(bar, pos, hit[0], hit[1])
        if (
            pos is not None
            and self.active
            and hold_expired(pos, self.config.risk.max_hold_s, bar.close_ts)
            and self.tradable(sym) is not None
            and self._may_exit(sym)
        ):
            return self._exit_then(bar, pos, OrderReason.TIME_EXIT, _price(c.close))
        return self._bar_closed(bar)

    async def _exit_then(
        self, bar: Bar, pos: Position, reason: OrderReason, price: Decimal
    ) -> None:
        """A bar's exit, then the rest of the bar (``_bar_closed``)."""
        await self._exit(pos, reason, price, bar.close_ts)
        rest = self._bar_closed(bar)
        if rest is not None:
            await rest

    def _bar_closed(self, bar: Bar) -> Coroutine[Any, Any, None] | None:
        """After a bar's exits: once every symbol's bar of this close is in, the equity sample,
        then what ``_after_sample`` does; what waits is returned as a coroutine (``_bar``)."""
        ts = bar.close_ts
        symbols = self.config.symbols
        if not (
            len(symbols) == 1
            and symbols[0] == bar.key.symbol
            or all(self.bar_ts.get(s) == ts for s in symbols)
        ):
            return None
        self._sample_equity(ts)
        if self.risk.changed and not self._save_risk_now():
            return self._after_sample(ts, 1)
        if self.budget_paused and self.status is BotStatus.PAUSED:
            return self._after_sample(ts, 2)
        if self.status is BotStatus.RUNNING and self._due(ts):
            return self._cycle_now(ts)
        return None

    async def _after_sample(self, ts: int, stage: int) -> None:
        """From ``stage`` on: 1 the kill switches' state stored, 2 a budget pause resumed, then
        the cycle when one is due (``_bar_closed`` did the stages before, without waiting)."""
        if stage <= 1 and self.risk.changed:
            await self.save_risk_state()
        if self.budget_paused and self.status is BotStatus.PAUSED:
            await self._budget_resume(ts)
        if self.status is BotStatus.RUNNING and self._due(ts):
            await self.cycle(ts)

    def _publish_candle(self, bar: Bar) -> None:
        """The candle and the strategy's moving averages at it, for the cockpit's price panel."""
        c, view = bar.candle, bar.view
        if self._ma_of is not self.strategy:  # the strategy's moving averages, once per strategy
            self._ma_of = self.strategy
            self._ma_cols = tuple(
                col
                for spec in self.strategy.indicators()
                if spec.name in MA_INDICATORS
                for col in spec.columns
            )
        mas = (
            tuple([(col, v) for col in cols if col in view and math.isfinite(v := view.last(col))])
            if (cols := self._ma_cols)
            else ()
        )
        self.bus.publish(
            CandleClosed(
                bar.close_ts, self.name, bar.key.symbol, c.open, c.high, c.low, c.close, mas
            )
        )

    async def _budget_pause(self, e: BudgetExceeded, ts: int) -> None:
        """Today's LLM budget is spent: pause (SL/TP still watched) until the new UTC day.
        Not stored: a restart finds the bot running, and its first cycle checks the budget
        again before any call."""
        await self.set_status(BotStatus.PAUSED, persist=False)
        self.budget_paused = True
        self.bus.publish(Notice(ts, "warning", f"{self.name} paused: {e}", self.name))

    async def _budget_resume(self, ts: int) -> None:
        """Resume a budget pause once the strategy's day has changed, as the notice said."""
        try:
            self.strategy.check_budget(self.name)
        except BudgetExceeded:
            return
        await self.set_status(BotStatus.RUNNING, persist=False)
        self.bus.publish(
            Notice(
                ts,
                "info",
                f"{self.name} resumed: a new UTC day, its daily LLM budget is available again",
                self.name,
            )
        )

    def _due(self, ts: int) -> bool:
        """Whether a cycle runs at market time ``ts`` (a closed candle of every symbol, or with a
        cron, a retry or a start pending also a tick). In order: a start or resume with
        ``run_on_start``; a failed cycle's retry time reached (``retry_delay_s``); with a cron,
        the first input at or after the next cron time (the first one after the bot's first
        input, or after its last cycle: times missed meanwhile make one cycle, not a burst);
        else at most once per ``cadence_s`` (0 = every candle close)."""
        if self._start_pending:
            return True
        if self._retry_at is not None and ts >= self._retry_at:
            return True
        cron = self.config.cron
        if cron:
            if self._cron_due is None:  # the first input: wait for the first cron time from it
                self._cron_due = cron_next_ms(cron, ts - 1)
                self.next_cycle_ts = self._cron_due
            return ts >= self._cron_due
        cad = self.config.cadence_s * 1000
        if cad and self.last_cycle_ts is not None and ts - self.last_cycle_ts < cad:
            return False
        return True

    # ------------------------------------------------------------------ the cycle

    async def cycle(self, ts: int) -> None:
        self._cycle_ts = ts  # kept when the cycle raises: ``_failed`` reads it
        try:
            await self._cycle(ts)
        except asyncio.CancelledError:
            self._cycle_ts = None
            raise
        self._cycle_ts = None

    def _cycle_now(self, ts: int) -> Coroutine[Any, Any, None] | None:
        """``cycle(ts)`` without a coroutine when nothing waits: a rule strategy with no order
        to settle, whose decision is a hold (or none is made). Else the coroutine that does
        the rest, in the same order as ``cycle``."""
        if self._settles or self.flatten_pending or not self.strategy.decides_by_rule:
            return self.cycle(ts)
        self._cycle_ts = ts  # kept when the cycle raises: ``_failed`` reads it
        self._cycle_clock(ts)
        if self._may_decide():
            decision = self._rule_decide(ts)
            if decision is not None:
                return self._decided_cycle(decision, ts)
        self._cycle_ts = None
        return None

    async def _decided_cycle(self, decision: Decision, ts: int) -> None:
        """The end of ``_cycle_now``'s cycle: acting on a rule's decision, as ``cycle``."""
        try:
            await self._decided(decision, ts)
        except asyncio.CancelledError:
            self._cycle_ts = None
            raise
        self._cycle_ts = None

    def _cycle_clock(self, ts: int) -> None:
        """A cycle starts at ``ts``: its time, and when the next one is due."""
        self.last_cycle_ts = ts
        self._start_pending = False
        self._retry_at = None
        if self.config.cron:
            self._cron_due = self.next_cycle_ts = cron_next_ms(self.config.cron, ts)
        else:
            step = self.config.cadence_s * 1000 or _tf_ms(self.config.timeframe)  # cached
            self.next_cycle_ts = ts + step

    def _may_decide(self) -> bool:
        """Whether the cycle makes a decision: not while a LIVE bot is not reconciled with
        its exchange (it trades on no guess), nor while decisions are held."""
        why = self.broker.not_ready()
        if why:
            if why != self._not_ready_said:
                self._not_ready_said = why
                log.warning("bot %s: not deciding: %s", self.name, why)
                self.publish_view()  # the view says why (``not_ready``)
            return False
        if self._not_ready_said:
            self._not_ready_said = ""
        # no new decision while held; SL/TP exits still run (engine/hold.py)
        return not self.held()

    def _rule_decide(self, ts: int) -> Decision | None:
        """A rule's decision; a hold is published here (None returned), else it is to act on.

        A rule's decision needs no context: the signals first, the held positions (the dust
        rule) only where a signal asks, and no Decimal equity (the risk check computes its own
        when a decision is not a hold)."""
        self.cycles += 1
        strategy = self.strategy
        if type(strategy).rule_decision is not Strategy.rule_decision:  # its own: as it says
            decision = strategy.rule_decision(
                self.name, ts, self.config.symbols, self.views, self.frames, self._holds
            )
            if not decision.is_hold:
                return decision
            self._rule_hold(decision, ts)
        else:  # the calls first: a hold (most candles) needs no Decision built
            calls, text = strategy.rule_calls(
                self.config.symbols, self.views, self.frames, self._holds
            )
            for call in calls:
                if call[1] is not _HOLD:
                    return rule_decision_of(self.name, ts, calls, text)
            self._rule_hold_said(tuple([(s, _VALUE[a]) for s, a, _ in calls]), text, ts)
        # a hold: nothing to execute, no lock to take, nothing to wait for
        if not self.store.write_failing:
            self.consecutive_errors = 0
        return None

    async def _cycle(self, ts: int) -> None:
        self._cycle_clock(ts)
        if self._settles or self.flatten_pending:
            await self.settle(ts)  # orders whose end is not known yet, before deciding anew
        if not self._may_decide():
            return
        if self.strategy.decides_by_rule:
            decision = self._rule_decide(ts)
            if decision is not None:
                await self._decided(decision, ts)
            return
        ctx = DecisionContext(
            bot=self.name,
            ts=ts,
            config=self.config,
            frames=self.frames,
            views=self.views,
            positions=self.tradable_positions(),
            cash=self.portfolio.cash,
            equity=self.portfolio.equity(self.marks),
            memory=tuple(self.memory),
            emit=lambda text: self.bus.publish(ReasoningChunk(ts, self.name, text)),
        )
        if not self.strategy.wants_decision(ctx):
            return
        self.cycles += 1
        if self.strategy.name == "llm":
            self.bus.publish(ReasoningStarted(ts, self.name, "llm"))
        try:
            if type(self.strategy).decide is Strategy.decide:
                # The rule path never awaits, so there is nothing to cancel: no task for it.
                decision = await self.strategy.decide(ctx)
            else:  # an LLM call (or a user's own decide) may wait: halt() cancels this task
                self._decide_task = asyncio.create_task(self.strategy.decide(ctx))
                try:
                    decision = await self._decide_task
                finally:
                    self._decide_task = None
        except BudgetExceeded as e:
            await self._budget_pause(e, ts)
            return
        await self._decided(decision, ts)

    async def _decided(self, decision: Decision, ts: int) -> None:
        """Act on a decision under the bot's lock (unless a hold or a pause came meanwhile)."""
        async with self.lock:
            # checked under the lock, right before acting: a hold that began while this
            # decision was made or waited for the lock stores it, not acted on
            if why := self.held():
                decision = withheld(decision, why)
            elif self.status is not BotStatus.RUNNING:  # paused or stopped while deciding
                decision = withheld(decision, f"bot {self.status.value} while deciding")
            await self._act(_hold_blocked(decision, self.broker.blocked()), ts)
        if not self.store.write_failing:  # a full disk: the run goes on
            self.consecutive_errors = 0

    def _rule_hold(self, decision: Decision, ts: int) -> None:
        """A rule's hold: nothing is executed, and it is neither stored nor remembered (the
        samples go once EQUITY_FLUSH are buffered); the reasoning panel shows it."""
        actions = tuple([(i.symbol, _VALUE[i.action]) for i in decision.items])
        self._rule_hold_said(actions, decision.reasoning, ts)

    def _rule_hold_said(self, actions: tuple[tuple[str, str], ...], text: str, ts: int) -> None:
        """``_rule_hold`` of a hold's (symbol, action) pairs and reasoning."""
        self.last_decision_ts = ts
        if len(self._equity_buf) >= EQUITY_FLUSH:
            self._write_behind()
        self.bus.publish(DecisionMade(ts, self.name, "rule", actions, text))

    async def _act(self, decision: Decision, ts: int) -> None:
        if decision.source == "rule" and decision.is_hold:
            self._rule_hold(decision, ts)
            return
        verdict = None
        orders: list[Order] = []
        fills: list[Fill] = []
        failure: Exception | None = None
        hold = decision.is_hold
        if not hold:
            verdict = self.risk.check(decision, self.portfolio, self.marks, self.new_id)
            for intent in verdict.intents:
                try:
                    o, f = await self._execute(intent, ts)
                except Exception as e:  # noqa: BLE001 - raised again once the rest is stored
                    # What was executed before stays executed: it is stored below, then the
                    # cycle fails with this. The intents after it are not sent (they were
                    # sized on cash this one may not have freed).
                    failure = e
                    break
                orders.append(o)
                fills.extend(f)
        self.last_decision_ts = ts
        keep = None  # a rule's hold is neither stored nor remembered: no record to build
        if not hold or decision.source != "rule":
            keep = _record(decision, verdict, orders)
            if failure is not None:
                why = f"order failed: {type(failure).__name__}: {failure}"
                keep = replace(keep, error=storable(why)[:2000])
            self.memory.append(keep)
        if orders or fills or keep is not None:
            await self._persist(orders, fills, keep, ts)
        elif len(self._equity_buf) >= EQUITY_FLUSH:
            self._write_behind()  # only samples: the cycle does not wait for them
        self.bus.publish(
            DecisionMade(
                ts,
                self.name,
                decision.source,
                tuple((i.symbol, i.action.value) for i in decision.items),
                decision.reasoning,
                verdict.status.value if verdict else "",
                verdict.reasons if verdict else (),
                tuple(o.client_order_id for o in orders),
            )
        )
        if fills:
            self.publish_view()
        if failure is not None:
            raise failure

    async def _execute(self, intent: OrderIntent, ts: int) -> tuple[Order, list[Fill]]:
        ex = await self.broker.execute(intent, self.marks[intent.symbol], ts)
        return ex.order, list(ex.fills)

    def tradable(self, symbol: str) -> Position | None:
        """The position in ``symbol`` if the exchange would take a sell of it; None when there
        is none or only dust (what a fee taken in the coin bought leaves over)."""
        pos = self.portfolio.position(symbol)
        if pos is None:
            return None
        mark = self.marks.get(symbol, pos.avg_entry)
        return pos if sellable(pos.qty, mark, self._rules(symbol)) > 0 else None

    def _holds(self, symbol: str) -> bool:
        """Whether a strategy sees ``symbol`` as held (a position that is not dust)."""
        return self.portfolio.holds(symbol) and self.tradable(symbol) is not None

    def tradable_positions(self) -> dict[str, Position]:
        """What strategies see as held: dust is flat to them (it cannot be sold)."""
        return {s: p for s in self.portfolio.positions if (p := self.tradable(s)) is not None}

    def _may_exit(self, symbol: str) -> bool:
        """An exit may be sent: no order of the symbol is unresolved, the bot is reconciled."""
        return symbol not in self.broker.blocked() and not self.broker.not_ready()

    async def _exit(self, pos: Position, reason: OrderReason, price: Decimal, ts: int) -> bool:
        """Sell the position (what the exchange would take of it); False when nothing was
        sent (no position, an unresolved order on the symbol, or only dust left)."""
        async with self.lock:
            held = self.portfolio.position(pos.symbol)
            if held is None or not self._may_exit(pos.symbol):
                return False
            qty = sellable(held.qty, price, self._rules(pos.symbol))
            if qty <= 0:  # dust the exchange would refuse (a fee taken in the coin bought)
                log.info(
                    "bot %s: %s %s left is below the exchange's minimum; not sold",
                    self.name,
                    held.qty,
                    pos.symbol,
                )
                return False
            intent = OrderIntent(
                self.name, pos.symbol, Side.SELL, qty, reason, self.new_id(), limit_price=price
            )
            ex = await self.broker.execute(intent, price, ts)
            record = None
            if reason in (OrderReason.STOP_LOSS, OrderReason.TAKE_PROFIT, OrderReason.TIME_EXIT):
                record = DecisionRecord(
                    self.name,
                    ts,
                    "risk",
                    f"{pos.symbol}:{reason.value}",
                    reasoning=_exit_text(reason, price, self.config.risk.max_hold_s),
                )
            # A time exit is stored and shown in the reasoning panel (SL/TP say it as fills).
            timed = record if reason is OrderReason.TIME_EXIT else None
            await self._persist([ex.order], list(ex.fills), timed, ts)
            self.publish_view()
            if record is not None:
                self.memory.append(record)
            if timed is not None:
                self.bus.publish(
                    DecisionMade(
                        ts,
                        self.name,
                        "risk",
                        ((pos.symbol, "time exit"),),
                        timed.reasoning,
                        "",
                        (),
                        (intent.client_order_id,),
                    )
                )
            return True

    async def settle(self, ts: int) -> None:
        """Let the broker look up orders whose end is not known yet, and record what that
        brought, under the bot's lock. A flatten that met such an order is finished once
        none is left."""
        async with self.lock:
            settled = await self.broker.settle(ts)
            if settled:
                await self.record_executions(settled, ts)
        if self.flatten_pending and not self.broker.blocked():
            n = await self.flatten(ts)
            self.bus.publish(
                Notice(
                    ts,
                    "info",
                    f"{self.name}: its orders settled; the flatten "
                    f"asked before closed {n} position(s)",
                    self.name,
                )
            )

    def request_settle(self) -> None:
        """The broker's nudge (an order is due a lookup): through the inbox while the bot runs,
        else at once on a task of its own (a stopped bot's orders are real too)."""
        if self.task is not None and not self.task.done():
            self.inbox.put_nowait(SETTLE)
        elif self._settle_task is None or self._settle_task.done():
            self._settle_task = asyncio.create_task(
                self._settle_stopped(), name=f"settle:{self.name}"
            )

    async def _settle_stopped(self) -> None:
        try:
            await self.settle(self.last_cycle_ts or 0)
        except Exception as e:  # noqa: BLE001 - reported like a failed cycle
            self._failed(e)

    def holdings(self) -> dict[str, Decimal]:
        """symbol -> base quantity the ledger holds (what the broker may know)."""
        return {s: p.qty for s, p in self.portfolio.positions.items()}

    async def record_executions(self, executions: list[Execution], ts: int) -> None:
        """Apply and store orders a broker settled outside a cycle (a restart replay, an order
        whose outcome was unknown): each order with its new fills, in one transaction.
        Call it with the bot's lock held or before the bot's task runs."""
        orders, fills = split(executions)
        await self._persist(orders, fills, None, ts)
        if fills:
            self.publish_view()

    async def flatten(self, ts: int) -> int:
        """Close every position at the last price. Returns how many were closed."""
        n = 0
        for pos in list(self.portfolio.positions.values()):
            price = self.marks.get(pos.symbol) or pos.avg_entry
            n += await self._exit(pos, OrderReason.FLATTEN, price, ts)
        # An order whose end is not known yet (LIVE) may still add or remove a position: the
        # flatten is finished when it settles (``settle``), even with the bot stopped.
        self.flatten_pending = bool(self.broker.blocked())
        return n

    def open_after_flatten(self) -> tuple[int, int]:
        """(positions still open that could be sold, positions waiting on an unresolved order
        of their symbol): what a flatten has left. Dust is not a position here."""
        blocked = self.broker.blocked()
        held = self.tradable_positions()
        waiting = sum(1 for s in held if s in blocked)
        return len(held) - waiting, waiting

    async def _persist(
        self, orders: list[Order], fills: list[Fill], record: DecisionRecord | None, ts: int
    ) -> None:
        """Through the ledger writer, with the equity samples not stored yet: they go with any
        write, and on their own once EQUITY_FLUSH are buffered."""
        await self.ledger.write(
            orders,
            fills,
            record,
            take_equity=self._take_equity,
            equity_due=len(self._equity_buf) >= EQUITY_FLUSH,
        )

    def _take_equity(self) -> list[EquityPoint]:
        buf, self._equity_buf = self._equity_buf, []
        return buf

    def _ledger_lost(self) -> None:
        """The write failed and the stored ledger cannot be read back: stop trading."""
        self.status = BotStatus.ERROR

    def track_fill_ids(self, ids: set[str]) -> None:
        """Apply each fill id once from now on (LIVE bots: ``ids`` are the stored ones)."""
        self.ledger.track_fill_ids(ids)

    # ------------------------------------------------------------------ state and views

    def restore_day(self, day_start_ms: int, equity: Decimal) -> None:
        """The day (of the market clock) and its opening equity, from the stored samples."""
        self._day, self.day_start_equity = day_start_ms // 86_400_000, equity

    def _sample_equity(self, ts: int) -> None:
        pf = self.portfolio
        cash = pf.cash
        eq = cash if pf.flat else pf.equity(self.marks)  # (flat: cash + 0, the same Decimal)
        day = ts // 86_400_000
        if self._day != day:
            self._day, self.day_start_equity = day, eq
        self.last_sample_ts = ts
        # Every sample, not only decision cycles: the kill switches see the peak the equity
        # curve shows (and the state is stored whenever it moves: see save_risk_state).
        self.risk.observe(eq, ts)
        self._equity_buf.append(EquityPoint(self.name, ts, eq, cash))
        self.bus.publish(EquitySampled(ts, self.name, eq, cash))

    async def save_risk_state(self) -> None:
        """Store the kill switches' memory when it moved (a new peak, a new day), with the
        equity samples not stored yet: a restart, even after SIGKILL, never forgets a switch
        that tripped."""
        if self._save_risk_now():
            return
        await self._behind_done()  # in order: a batch handed over before goes first
        state, buf = self.risk.state(), self._equity_buf
        self._equity_buf = []
        self.risk.saved()
        try:
            await self.store.save_risk_state(self.name, state, buf)
        except BaseException:
            self.risk.changed = True
            self._equity_buf = buf + self._equity_buf
            raise

    def _save_risk_now(self) -> bool:
        """``save_risk_state`` where it need not wait: True when nothing is to be stored now,
        or only a new peak with a batch of samples (handed to the writer, not awaited); False
        when the state must be stored and waited for (a new day, a switch that trips)."""
        if not self.risk.changed:
            return True
        # A new peak is stored with the next batch of equity samples (what a crash may lose of
        # the curve, it may lose of the peak); a new day, or a switch that trips, at once.
        last = self._equity_buf[-1].equity if self._equity_buf else None
        tripped = last is not None and self.risk.entry_block(last) is not None
        urgent = self.risk.urgent or tripped
        if not (urgent or len(self._equity_buf) >= EQUITY_FLUSH):
            return True
        if not urgent:  # only a new peak, with a batch of samples: the cycle need not wait
            self._write_behind(save_risk=True)
            return True
        return False

    def _write_behind(self, *, save_risk: bool = False) -> None:
        """Hand the buffered equity samples (and with ``save_risk`` the kill switches' new
        peak) to the writer without waiting for the commit: what a crash may lose of them it
        could lose before. Fills, urgent risk states and stops still wait for theirs. One such
        write at a time; a failed one puts its samples back for the next write (and the state
        is stored again), and the store's ``write_failing`` says the disk is failing."""
        if self._behind is not None and not self._behind.done():
            return  # the next batch goes when this one is stored
        buf, self._equity_buf = self._equity_buf, []
        state = None
        write: Coroutine[Any, Any, Any]
        if save_risk:
            state = self.risk.state()
            self.risk.saved()
            write = self.store.save_risk_state(self.name, state, buf)
        else:
            write = self.store.record_cycle(self.name, equity=buf)
        # Started now (eagerly): queued with the writer before any later write of this bot, so
        # the samples are stored in the order they were taken (the thinning relies on it).
        task: asyncio.Task[Any] = asyncio.Task(
            write, loop=asyncio.get_running_loop(), eager_start=True
        )
        self._behind = task

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled() or t.exception() is not None:
                self._equity_buf = buf + self._equity_buf
                if state is not None:
                    self.risk.changed = True
                why = "cancelled" if t.cancelled() else t.exception()
                log.warning("bot %s: equity samples not stored yet (kept): %s", self.name, why)

        task.add_done_callback(done)

    async def _behind_done(self) -> None:
        """Wait for the write ``_write_behind`` handed over, if any (its failure is handled
        there: the samples are kept)."""
        task, self._behind = self._behind, None
        if task is not None and not task.done():
            await asyncio.wait([task])

    async def flush_equity(self) -> None:
        await self._behind_done()
        if self._equity_buf:
            buf, self._equity_buf = self._equity_buf, []
            await self.store.record_cycle(self.name, equity=buf)

    async def set_status(self, status: BotStatus, *, persist: bool = True, why: str = "") -> None:
        """Change the status; ``persist=False`` for a passing state (a circuit breaker's
        pause) that a restart must not inherit. ``why`` is shown with the bot."""
        if persist and status is BotStatus.RUNNING:  # a start or resume the user asked
            self._on_start()
        else:
            self._start_pending = False
        self.status = status
        self.budget_paused = False  # any other change of status ends a budget pause
        self.pause_reason = why
        # The bot already behaves so: show it now. The write waits behind the other bots'
        # cycles in the writer's queue (100+ ms when 20 bots trade fast); a failed write still
        # fails the command, and the user sees that toast.
        self.publish_view()
        if persist:
            await self.store.set_bot_status(self.name, status)

    def _failed(self, e: BaseException) -> None:
        self.errors += 1
        self.consecutive_errors += 1
        self.last_error = f"{type(e).__name__}: {e}"
        # Debug only: front ends (the headless log, the cockpit) report the CycleFailed event.
        log.debug(
            "bot %s: cycle failed (%d in a row): %s",
            self.name,
            self.consecutive_errors,
            self.last_error,
        )
        ts = self.last_cycle_ts or 0
        delay = self.config.retry_delay_s * 1000
        failed_cycle, self._cycle_ts = self._cycle_ts, None
        if delay and failed_cycle is not None:  # the cycle is tried again after the delay
            self._retry_at = failed_cycle + delay
            self.next_cycle_ts = min(self.next_cycle_ts or self._retry_at, self._retry_at)
        limit = self.config.retry_attempts
        self.bus.publish(CycleFailed(ts, self.name, self.last_error, self.consecutive_errors))
        if isinstance(e, AuthError) and self.active:
            # A rejected key fails every order the same way: stop now instead of hammering the
            # exchange (and risking a ban) until the error limit.
            self.status = BotStatus.ERROR
            self.bus.publish(
                Notice(
                    ts,
                    "error",
                    f"{self.name}: the exchange rejected the API "
                    "key; bot stopped. Check it with `oxbot keys check`.",
                    self.name,
                )
            )
        elif isinstance(e, StrategyExit) and self.status is BotStatus.RUNNING:
            # the user's strategy tried to end the process: every cycle would do the same
            self.status = BotStatus.ERROR
            self.bus.publish(
                Notice(
                    ts,
                    "error",
                    f"{self.name}: its strategy tried to end the process ({e}); bot stopped. "
                    "Fix the strategy file, then start the bot again.",
                    self.name,
                )
            )
        elif self.consecutive_errors >= limit and self.status is BotStatus.RUNNING:
            self.status = BotStatus.ERROR
            self.bus.publish(
                Notice(
                    ts,
                    "error",
                    f"{self.name}: {limit} cycles failed in a row, bot stopped: {self.last_error}",
                    self.name,
                )
            )
        self.publish_view()

    def _pos_view(self, p: Position) -> PositionView:
        mark = self.marks.get(p.symbol, p.avg_entry)
        return PositionView(
            self.name,
            p.symbol,
            p.side,
            p.qty,
            p.avg_entry,
            mark,
            p.unrealised(mark),
            p.stop_loss,
            p.take_profit,
        )

    def positions_view(self) -> list[PositionView]:
        return [self._pos_view(p) for p in self.portfolio.positions.values()]

    def view(self) -> BotView:
        pf = self.portfolio
        return BotView(
            self.name,
            self.config,
            self.status,
            pf.cash,
            pf.equity(self.marks),
            pf.net_deposits,
            self.day_start_equity,
            pf.realised,
            pf.fees,
            len(pf.positions),
            pf.trades,
            self.cycles,
            self.errors,
            self.last_decision_ts,
            self.next_cycle_ts if self.status is BotStatus.RUNNING else None,
            last_error=self.last_error,
            pause_reason=self.pause_reason,
            stale_symbols=tuple(sorted(k.symbol for k in self.stale)),
            not_ready=self._not_ready_said,
            # LIVE: symbols with an order whose end the exchange has not told yet
            unresolved=tuple(sorted(self.broker.blocked())),
            llm=self.strategy.llm_figures(),
        )

    # ------------------------------------------------------------------ market facts

    def market_fact(self, fact: PriceFact) -> None:
        """A stream this bot reads went stale or live: shown with the bot at once. Nothing
        else changes: stop-loss and take-profit keep using the last price."""
        if isinstance(fact, PriceStale):
            self.stale[fact.key] = fact
        else:
            self.stale.pop(fact.key, None)
        self.publish_view()

    async def exchange_fact(self, fact: ExchangeFact) -> bool:
        """The circuit breaker of an exchange opened or closed. A RUNNING bot of that exchange
        pauses while it is open (not stored: a restart must not inherit it) and resumes when it
        closes if the breaker paused it and it is still paused. True when this bot did."""
        if fact.exchange != self.config.exchange:
            return False
        if isinstance(fact, ExchangeUnreachable):
            if self.status is not BotStatus.RUNNING:
                return False
            await self.set_status(
                BotStatus.PAUSED, persist=False, why=f"{fact.exchange} unreachable: {fact.reason}"
            )
            return True
        if self.name not in fact.paused or self.status is not BotStatus.PAUSED:
            return False
        await self.set_status(BotStatus.RUNNING, persist=False)
        return True

    def publish_view(self) -> None:
        self.bus.publish(BotStateChanged(self.last_cycle_ts or 0, self.view()))


class LazyFrames(Mapping[str, "pd.DataFrame"]):
    """symbol -> the window as a DataFrame, built from the view when read (and cached by it:
    one frame per candle for every bot reading the stream)."""

    def __init__(self, views: Mapping[str, MarketView]) -> None:
        self._views = views

    def __getitem__(self, symbol: str) -> pd.DataFrame:
        return self._views[symbol].frame()

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)


@functools.cache
def _tf_ms(tf: str) -> int:
    from .models import timeframe_seconds  # noqa: PLC0415

    return timeframe_seconds(tf) * 1000


# The exact Decimal of a market price (to_decimal), kept for the newest prices: every bot
# reading a stream converts the same tick and candle prices.
_price = functools.lru_cache(maxsize=1024, typed=True)(to_decimal)


def _hold_blocked(decision: Decision, blocked: Mapping[str, str]) -> Decision:
    """``decision`` with every non-hold call on a blocked symbol turned into a hold, saying
    why (an order of that symbol is still unresolved)."""
    if not blocked or decision.is_hold:
        return decision
    items = []
    for item in decision.items:
        why = blocked.get(item.symbol)
        if why and item.action is not Action.HOLD:
            note = f"{item.action.value} held: {why}"
            item = replace(
                item,
                action=Action.HOLD,
                size_pct=None,
                reasoning=f"{item.reasoning} [{note}]" if item.reasoning else note,
            )
        items.append(item)
    return replace(decision, items=tuple(items))


def _record(decision: Decision, verdict: Verdict | None, orders: list[Order]) -> DecisionRecord:
    m = decision.meta
    # storable(): outside text (a model's reply) must never make the write fail after the
    # orders it caused were executed (a lone surrogate once lost a fill that way).
    return DecisionRecord(
        bot=decision.bot,
        ts=decision.ts,
        source=decision.source,
        actions=storable(" ".join(f"{i.symbol}:{i.action.value}" for i in decision.items)),
        reasoning=storable(decision.reasoning[:4000]),
        verdict=verdict.status.value if verdict else "",
        verdict_reasons=storable("; ".join(verdict.reasons)) if verdict else "",
        order_ids=",".join(o.client_order_id for o in orders),
        provider=storable(m.get("provider", "")),
        model=storable(m.get("model", "")),
        prompt_hash=storable(m.get("prompt_hash", "")),
        prompt=storable(str(m.get("prompt", ""))[:8000]),
        raw_reply=storable(str(m.get("raw_reply", ""))[:8000]),
        parsed=storable(m.get("parsed", "")),
        error=storable(m.get("error", "")),
        tokens_in=int(m.get("tokens_in", 0) or 0),
        tokens_out=int(m.get("tokens_out", 0) or 0),
        cost=to_decimal(m.get("cost", ZERO) or ZERO),
        latency_ms=int(m.get("latency_ms", 0) or 0),
        flags=storable(m.get("flags", "")),
    )


__all__ = ["BotRunner", "VerdictStatus"]


def _exit_text(reason: OrderReason, price: Decimal, max_hold_s: int | None) -> str:
    """The reasoning panel's line for an exit the bot made on its own."""
    if reason is OrderReason.TIME_EXIT:
        return f"time exit at {price}: held longer than the maximum of {max_hold_s} s"
    return f"{reason.value.replace('_', '-')} hit at {price}"


def _default_decimals() -> None:
    """ccxt's precision helpers set ROUND_HALF_UP on the calling context; the ledger's
    arithmetic always runs under Python's defaults."""
    if decimal.getcontext().rounding != decimal.ROUND_HALF_EVEN:
        decimal.setcontext(decimal.Context())


async def _finish(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    """The rest of a lockstep candle's coroutine, as a task (``BotRunner.step``)."""
    await _resume(coro, pending)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], pending: Any) -> Generator[Any, Any, None]:
    """Drive ``coro`` on from where it stopped (it yielded ``pending``), as a task would have:
    what the task sends or throws in (a result, a cancellation) is passed on to it."""
    while True:
        try:
            sent = yield pending
        except BaseException as e:  # noqa: BLE001 - a cancellation, handed to the coroutine
            try:
                pending = coro.throw(e)
            except StopIteration:
                return
        else:
            try:
                pending = coro.send(sent)
            except StopIteration:
                return
