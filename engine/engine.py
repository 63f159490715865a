"""The Engine: many bots on one asyncio loop, driven by commands, observed through events.

Collaborators are passed in (store, market hub, clock, factories), so the same class runs inside
the TUI (on its own thread), headless, and in tests. It never imports Textual or oxbot.storage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from .bot import BotRunner
from .broker import BrokerLink
from .bus import EventBus
from .capital import CAPITAL_SOURCE, capital_changed, capital_flow
from .clock import WallClock
from .commands import CommandHandlers
from .errors import ConfigError, OxbotError, StorageError
from .exchange.quirks import check_exchange_id
from .hold import DecisionHold, lease_s
from .lanes import SENT_AT_PANIC, CommandLanes
from .leasing import LEASE_TTL_S, FencedLedger, RenewalClock, TakeoverRetries
from .market.window import bars_needed, check_warmup
from .messages import (
    AddBot,
    BotRemoved,
    BotStateChanged,
    Command,
    CommandDone,
    DecisionHistory,
    DecisionMade,
    DeleteBot,
    EngineError,
    EngineSnapshot,
    EngineStateChanged,
    EquityHistory,
    FlattenBot,
    HoldDecisions,
    Notice,
    OrderFilled,
    PanicAll,
    PauseBot,
    RecentFills,
    ReconcileFound,
    RequestDecisionHistory,
    RequestEquityHistory,
    RequestRecentFills,
    RequestReconcile,
    RequestSnapshot,
    ResolveReconcile,
    ResumeBot,
    Shutdown,
    StartBot,
    StopBot,
    UpdateBot,
)
from .models import ZERO, BotConfig, BotStatus, DecisionRecord, LeaseClaim, Mode
from .paper import PaperBroker
from .portfolio import Portfolio
from .ports import BrokerPort, Clock, EngineStore, Market, Service
from .strategies import Strategy, build_strategy
from .strategies.loader import builtin_names

log = logging.getLogger("oxbot.engine")

StrategyFactory = Callable[[BotConfig], Strategy]
BrokerFactory = Callable[[BotConfig], BrokerPort]
# Raises ConfigError naming what a bot lacks (an API key) and how to set it; the composition
# root provides it (the engine never reads keys itself).
KeyCheck = Callable[[BotConfig], Awaitable[None]]
SNAPSHOT_EVERY_S = 1.0
MARKS_EVERY_S = 10.0  # how often the sim market's last closes are stored
EQUITY_HISTORY_MAX = 5000  # points per RequestEquityHistory: one chart's worth
RECENT_FILLS_MAX = 1000  # fills per RequestRecentFills
DECISION_HISTORY_MAX = 200  # decisions per RequestDecisionHistory
PANIC_WAIT_S = 2.0  # how long PANIC waits for orders in flight before it answers
SHUTDOWN_GRACE_S = 3.0  # commands still running at shutdown get this long, then are cancelled


def rule_strategy_factory(config: BotConfig) -> Strategy:
    return build_strategy(config.strategy, config.params)


class NotLoaded(Strategy):
    """Stands in for the strategy of a stored bot whose strategy does not load (a user's file
    that fails to import or validate): the bot is listed, in the error state, with the loader's
    message, and never trades; starting it asks for its strategy again."""

    name = "not_loaded"

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why

    def check_setup(self) -> None:
        raise ConfigError(self.why)

    def signals(self, frame: Any) -> Any:
        raise ConfigError(self.why)


def paper_broker_factory(config: BotConfig) -> BrokerPort:
    if config.mode is Mode.LIVE:
        raise ConfigError(
            f"{config.name}: LIVE trading needs the exchange layer and keys; "
            "this engine was started for paper trading only"
        )
    return PaperBroker(config.fee_rate, config.slippage_bps)


class Engine:
    def __init__(
        self,
        store: EngineStore,
        hub: Market,
        *,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        strategy_factory: StrategyFactory = rule_strategy_factory,
        broker_factory: BrokerFactory = paper_broker_factory,
        resume: bool = True,
        snapshot_every_s: float | None = SNAPSHOT_EVERY_S,
        key_check: KeyCheck | None = None,
        engine_name: str | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
    ) -> None:
        self.store = store
        self.hub = hub
        self.bus = bus or EventBus()
        self.clock = clock or WallClock()
        self.strategy_factory = strategy_factory
        self.broker_factory = broker_factory
        self.resume = resume
        self.snapshot_every_s = snapshot_every_s
        self.key_check = key_check
        self.runners: dict[str, BotRunner] = {}
        self.state = "created"
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self.hold = DecisionHold()  # new decisions held while a PANIC question is on screen
        self.panics = 0  # PANICs so far: a start sent before one must not undo it
        self.handlers = self._handlers()
        self._lanes = CommandLanes(self._dispatch, lambda: self.panics)
        self._background: set[asyncio.Task[Any]] = set()  # PANIC's closes of busy bots
        self._started = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()
        # Things started once the engine runs and closed when it stops (the control socket).
        self.services: list[Service] = []
        # Real exchanges: Notices and breaker pauses reach this engine's bus and bots.
        self.hub.bind(self.bus.publish, lambda: list(self.runners.values()))
        # Several engines on one database (storage/leases.py): this engine's id and name, the
        # bots whose lease it holds (-> the epoch its runner's state is current at), the bots
        # another engine runs (-> that engine's name), and the ledger the bots write through.
        self.engine_name = engine_name or socket.gethostname()
        self.engine_id = ""
        self.lease_ttl_s = lease_ttl_s
        self.owned: set[str] = set()
        self.epochs: dict[str, int] = {}
        self.elsewhere: dict[str, str] = {}
        self._untaken = TakeoverRetries(lease_ttl_s)  # failed takeovers: tried again later
        self._stale: set[str] = set()  # runners another engine may have moved the ledger past
        self.ledger = FencedLedger(store, self._lease_lost)
        self.lease_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ public surface

    def submit(self, cmd: Command) -> None:
        """Queue a command (call on the engine loop). The outcome comes as CommandDone."""
        self._commands.put_nowait(cmd)

    def request_stop(self) -> None:
        self.submit(Shutdown())

    def now_ms(self) -> int:
        return self.hub.virtual_ms or self.clock.now_ms()

    def snapshot(self) -> EngineSnapshot:
        bots = tuple(self._view(r) for r in self.runners.values())
        positions = tuple(p for r in self.runners.values() for p in r.positions_view())
        feeds = tuple(self.hub.feeds().items())
        return EngineSnapshot(self.now_ms(), self.state, bots, positions, feeds)

    def _view(self, r: BotRunner) -> Any:
        owner = self.elsewhere.get(r.name)
        view = r.view()
        return view if owner is None else dataclasses.replace(view, engine=owner)

    def _publish_view(self, r: BotRunner) -> None:
        """``r.publish_view()`` with the engine that runs the bot when another one does (a
        cockpit keeps the last view it got: "on B" must not vanish until the next snapshot)."""
        self.bus.publish(BotStateChanged(r.last_cycle_ts or 0, self._view(r)))

    def status_summary(self) -> dict[str, Any]:
        views = [r.view() for r in self.runners.values()]
        equity = sum((v.equity for v in views), ZERO)
        failed = [f"{v.name}: {v.last_error}" for v in views if v.status is BotStatus.ERROR]
        return {
            "state": self.state,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "bots_total": len(views),
            "bots_running": sum(v.status is BotStatus.RUNNING for v in views),
            "cycles": sum(v.cycles for v in views),
            "trades": sum(v.trades for v in views),
            "equity": str(equity.quantize(Decimal("0.01"))),
            "errors": sum(v.errors for v in views),
            # LLM decisions that ended as a HOLD for want of a usable answer (transport errors
            # included): a bot whose model always fails has no cycle errors, only these.
            "failed_decisions": sum(v.llm.failures for v in views if v.llm is not None),
            "db": str(self.store.path),
            "engine_id": self.engine_id,
            "engine_name": self.engine_name,
            # bots another engine of the same database runs, as "bot@engine"; one string
            **(
                {"bots_elsewhere": ", ".join(f"{b}@{e}" for b, e in sorted(self.elsewhere.items()))}
                if self.elsewhere
                else {}
            ),
            # bots in the error state and why (a strategy file that does not load), if any;
            # one string: the socket's summary carries plain JSON values (remote/codec.py)
            **({"bots_in_error": "; ".join(failed)} if failed else {}),
        }

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._set_state("starting")
        await self._load()
        hub_task = asyncio.create_task(self.hub.run(), name="market-hub")
        snap_task = asyncio.create_task(self._snapshots(), name="snapshots")
        self.lease_task = asyncio.create_task(self._renewals(), name="leases")
        self._set_state("running")
        self.bus.publish(self.snapshot())
        self.ready.set()
        try:
            for service in self.services:
                await service.start()
            hub_task.add_done_callback(self._market_stopped)
            while True:
                cmd = await self._commands.get()
                if isinstance(cmd, Shutdown):
                    self._done(cmd, True, "engine stopping")
                    break
                # never awaited here: a slow command (a LIVE start, a stop waiting out an
                # order in flight) must not hold up the ones behind it, PANIC above all
                self._lanes.route(cmd)
        finally:
            self._set_state("stopping")
            await self._lanes.close(SHUTDOWN_GRACE_S)
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            snap_task.cancel()
            self.lease_task.cancel()  # before the bots halt: nothing is taken over meanwhile
            for r in self.runners.values():
                await _quietly(r.halt())  # stored status is kept: running bots resume on restart
            hub_task.cancel()
            await asyncio.gather(hub_task, snap_task, self.lease_task, return_exceptions=True)
            # every lease released, the engine marked stopped: another engine of the database
            # may take its running bots at once
            await _quietly(self.store.deregister_engine())
            await self._save_marks()  # after the market stopped: the very last closes
            for r in self.runners.values():
                await _quietly(r.strategy.aclose())
                await _quietly(r.broker.close())
            await _quietly(self.hub.close())  # every ccxt client, after the brokers
            self._set_state("stopped")
            for service in self.services:  # last: `oxbot stop` returns once state is saved
                await _quietly(service.close())

    def _market_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.bus.publish(EngineError(self.now_ms(), f"market stopped: {task.exception()}"))

    async def _snapshots(self) -> None:
        every = self.snapshot_every_s or 10.0
        n = 0
        while True:
            await asyncio.sleep(every)
            n += 1
            if self.snapshot_every_s:
                self.bus.publish(self.snapshot())
            if n * every >= MARKS_EVERY_S:
                n = 0
                await self._save_marks()

    async def _save_marks(self) -> None:
        try:
            await self.store.save_marks(self.hub.marks())
        except OxbotError as e:  # a full disk, in words; no traceback every 10 s
            log.warning("cannot store the sim market's last prices: %s", e)
        except Exception:  # noqa: BLE001 - only the price path's continuity is at stake
            log.warning("cannot store the sim market's last prices", exc_info=True)

    def _handlers(self) -> CommandHandlers:
        """Every command the engine handles, with its handler. Shutdown is not here: it ends
        the loop in ``run``, behind the commands queued before it."""
        h = CommandHandlers()
        h.add(AddBot, self._on_AddBot)
        h.add(UpdateBot, self._on_UpdateBot)
        h.add(StartBot, self._on_StartBot)
        h.add(StopBot, self._on_StopBot)
        h.add(PauseBot, self._on_PauseBot)
        h.add(ResumeBot, self._on_ResumeBot)
        h.add(FlattenBot, self._on_FlattenBot)
        h.add(DeleteBot, self._on_DeleteBot)
        h.add(PanicAll, self._on_PanicAll)
        h.add(HoldDecisions, self._on_HoldDecisions)
        h.add(RequestSnapshot, self._on_RequestSnapshot)
        h.add(RequestEquityHistory, self._on_RequestEquityHistory)
        h.add(RequestRecentFills, self._on_RequestRecentFills)
        h.add(RequestDecisionHistory, self._on_RequestDecisionHistory)
        h.add(RequestReconcile, self._on_RequestReconcile)
        h.add(ResolveReconcile, self._on_ResolveReconcile)
        return h

    async def _dispatch(self, cmd: Command) -> None:
        handler = self.handlers.get(cmd)
        try:
            if handler is None:
                raise ConfigError(f"unknown command {type(cmd).__name__}")
            msg = await handler(cmd)
            self._done(cmd, True, msg or "")
        except OxbotError as e:
            self._done(cmd, False, str(e))
        except Exception as e:  # noqa: BLE001 - a command never kills the engine
            log.exception("command %s failed", type(cmd).__name__)
            self._done(cmd, False, f"{type(cmd).__name__} failed: {e}")

    def _done(self, cmd: Command, ok: bool, message: str) -> None:
        self.bus.publish(
            CommandDone(self.now_ms(), cmd.request_id, type(cmd).__name__, ok, message)
        )

    def _set_state(self, state: str, message: str = "") -> None:
        self.state = state
        self.bus.publish(EngineStateChanged(self.now_ms(), state, message))

    # ------------------------------------------------------------------ bots

    async def _load(self) -> None:
        saved = await self.store.load_bots()  # the first read: a broken database says so here
        self.engine_id = await self.store.register_engine(self.engine_name, self.lease_ttl_s)
        resume_ts = 0
        stored_status: dict[str, BotStatus] = {}
        for config, status in saved:
            stored_status[config.name] = status
            try:
                runner = await self._build(config, status, tolerate_strategy=True)
            except OxbotError as e:
                self.bus.publish(EngineError(self.now_ms(), f"bot {config.name}: {e}"))
                continue
            series = await self.store.equity_series(config.name, limit=1)
            if series:
                resume_ts = max(resume_ts, series[-1][0])
            if isinstance(runner.strategy, NotLoaded):  # listed with its error, never started
                self.bus.publish(
                    EngineError(self.now_ms(), f"bot {config.name}: {runner.last_error}")
                )
                if status is not BotStatus.ERROR:  # so it does not resume when fixed
                    await runner.set_status(BotStatus.ERROR, persist=self.resume)
                continue
            if status in (BotStatus.RUNNING, BotStatus.PAUSED) and not self.resume:
                status = BotStatus.STOPPED  # this run only: the stored state is kept
            if status is BotStatus.ERROR:
                status = BotStatus.STOPPED
            runner.status = status
        self.hub.resume_from(resume_ts, await self.store.load_marks())
        for r in list(self.runners.values()):
            stored = stored_status.get(r.name)
            if r.status in (BotStatus.RUNNING, BotStatus.PAUSED):
                claim = await self._claim(r, fresh=True)
                if not claim.ok:  # another live engine runs it: listed here, not run
                    continue
                try:
                    await self._prepare(r)
                    self._activate(r)
                    if claim.must_reconcile:  # taken from a crashed engine: settled now
                        await self.store.bot_reconciled(r.name)
                except Exception as e:  # noqa: BLE001 - one bot never stops the engine
                    if not isinstance(e, OxbotError):
                        log.exception("bot %s could not resume", r.name)
                    self.bus.publish(EngineError(self.now_ms(), f"bot {r.name} not resumed: {e}"))
                    await r.set_status(BotStatus.STOPPED)
                    await self._release(r.name)
            elif r.config.mode is Mode.LIVE and (
                stored is BotStatus.ERROR or await self.store.open_orders(r.name)
            ):
                # A LIVE bot that stopped in error, or left orders unresolved, is the most
                # likely to differ from its exchange: settle and reconcile it, without trading.
                try:
                    await self._prepare(r, trading=False)
                except OxbotError as e:
                    self.bus.publish(
                        EngineError(
                            self.now_ms(),
                            f"bot {r.name}: cannot settle its orders with {r.config.exchange}: {e}",
                        )
                    )

    async def _build(
        self, config: BotConfig, status: BotStatus, *, tolerate_strategy: bool = False
    ) -> BotRunner:
        """``tolerate_strategy``: a strategy that does not load (a user's broken file) gives a
        runner in the error state holding `NotLoaded`, instead of raising."""
        try:
            strategy = self.strategy_factory(config)
        except ConfigError as e:
            if not tolerate_strategy:
                raise
            strategy = NotLoaded(str(e))
            status = BotStatus.ERROR
        broker = self.broker_factory(config)
        portfolio = await self._portfolio(config)
        # the memory strategies read is decisions; capital edits are in the reasoning history
        memory = [
            d
            for d in await self.store.recent_decisions(config.name, 20)
            if d.source != CAPITAL_SOURCE
        ]
        # LLM spend, failures and the last failure survive restarts
        strategy.restore_history(await self.store.decision_stats(config.name), memory)
        runner = BotRunner(
            config,
            strategy,
            portfolio,
            broker,
            self.ledger,
            self.bus,
            broker.order_ids(config.name),
            status,
            memory,
            reload=lambda: self._portfolio(config),
            rules=self.hub.rules_for(config.exchange),
            pace=self.hub.wait_turn,
        )
        runner.held = self.hold.reason
        if memory:  # the bots table's "Last" column across a restart
            runner.last_decision_ts = memory[-1].ts
        opened = await self.store.day_open_equity(config.name)
        if opened is not None:  # today's P&L goes on across a restart
            runner.restore_day(opened[0], opened[1])
        # the kill switches go on across restarts and edits
        runner.risk.restore(await self.store.load_risk_state(config.name))
        last = await self.store.equity_series(config.name, limit=1)
        runner.last_sample_ts = last[-1][0] if last else None
        if isinstance(strategy, NotLoaded):
            runner.last_error = strategy.why
        self.runners[config.name] = runner
        return runner

    async def _fresh_strategy(self, r: BotRunner) -> None:
        """Before a stopped bot starts: its strategy asked for again, so an edited strategy
        file runs from this start on (a running bot keeps the one it started with). The same
        class keeps the bot's instance; a strategy that no longer loads refuses the start
        with the loader's message and leaves the bot as it was. Built-ins never change: their
        bots keep their instance (an LLM bot its client and counts) without asking."""
        if r.config.strategy in builtin_names() and not isinstance(r.strategy, NotLoaded):
            return
        try:
            strategy = self.strategy_factory(r.config)
            if type(strategy) is type(r.strategy):
                await _quietly(strategy.aclose())
                return
            check_warmup(strategy, r.name)
        except OxbotError as e:
            r.last_error = str(e)
            r.publish_view()
            raise
        memory = [d for d in r.memory if d.source != CAPITAL_SOURCE]
        strategy.restore_history(await self.store.decision_stats(r.name), memory)
        await _quietly(r.strategy.aclose())
        r.strategy = strategy

    async def _portfolio(self, config: BotConfig) -> Portfolio:
        fills = await self.store.load_fills(config.name)
        positions = await self.store.load_positions(config.name)
        stops = {s: (p.stop_loss, p.take_profit) for s, p in positions.items()}
        flows = await self.store.load_flows(config.name)
        try:
            return Portfolio.from_ledger(config.capital, fills, stops, flows)
        except ValueError as e:  # one damaged ledger must not take the engine down
            raise StorageError(
                f"the stored fills of bot {config.name} do not add up ({e}); "
                "the bot stays stopped: check its fills (`oxbot trades`)"
            ) from e

    async def _preflight(self, config: BotConfig, strategy: Strategy) -> None:
        """Refuse, with one message naming the fix, a bot that cannot work as configured: an
        LLM budget without a price, a missing LLM or exchange key (asked before it is added,
        changed or started, instead of failing every cycle)."""
        check_exchange_id(config.exchange)
        strategy.check_setup()
        if self.key_check is not None:
            await self.key_check(config)

    async def _prepare(self, r: BotRunner, trading: bool = True) -> None:
        """Before a bot runs: its broker starts (LIVE: keys and lock, the orders the last run
        left unresolved looked up, reconciliation with the exchange); what that settled is
        recorded in the bot's ledger. ``trading=False`` for a bot that is only settled (one
        that stopped in error): what only trading needs (an LLM key) is not asked then."""
        if trading:
            await self._preflight(r.config, r.strategy)
        if r.config.mode is Mode.LIVE:
            r.track_fill_ids({f.fill_id for f in await self.store.load_fills(r.name)})
        link = BrokerLink(
            r.name,
            holdings=r.holdings,
            wake=r.request_settle,
            publish=self.bus.publish,
            now_ms=self.now_ms,
        )
        settled = await r.broker.start(link)
        if settled:
            async with r.lock:
                await r.record_executions(settled, self.now_ms())

    def _activate(self, r: BotRunner) -> None:
        """Subscribe the bot to its streams and run its task. Raises before anything runs when
        the market cannot serve it."""
        try:
            self.hub.subscribe(
                r, r.config.stream_keys(), r.strategy.indicators(), bars_needed(r.strategy)
            )
        except BaseException:
            self.hub.unsubscribe(r)
            raise
        r.start_task()

    def _runner(self, name: str) -> BotRunner:
        try:
            return self.runners[name]
        except KeyError:
            raise ConfigError(f"no bot named {name!r}") from None

    def _here(self, name: str) -> BotRunner:
        """The runner of a bot this engine may change: refused for one another engine runs."""
        r = self._runner(name)
        owner = self.elsewhere.get(name)
        if owner is not None:
            raise ConfigError(
                f"bot {name} runs on engine {owner}: change it there (nothing changed here)"
            )
        return r

    # ------------------------------------------------------------------ leases

    async def _claim(self, r: BotRunner, *, fresh: bool = False) -> LeaseClaim:
        """Claim the bot's lease. Refused: the bot is listed as running on its owner, and
        stopped here. ``fresh``: the runner was just built from the ledger."""
        claim = await self.store.claim_bot(r.name, self.lease_ttl_s)
        if not claim.ok:
            was = self.elsewhere.get(r.name)
            self.elsewhere[r.name] = claim.owner or "?"
            self._stale.add(r.name)
            self.owned.discard(r.name)
            r.status = BotStatus.STOPPED  # here only: its owner keeps the stored status
            if was != self.elsewhere[r.name]:
                self._publish_view(r)
            return claim
        known = self.epochs.get(r.name)
        if self.store.shared and not fresh and (known is None or claim.epoch > known + 1):
            self._stale.add(r.name)  # another engine held it since this runner was current
        self.epochs[r.name] = claim.epoch
        self.owned.add(r.name)
        self.elsewhere.pop(r.name, None)
        return claim

    async def _release(self, name: str) -> None:
        """Give the bot's lease up. On a shared database always, owned or not: a stop must free
        the row this engine may still hold (the release changes only a row held by this
        engine), or it would be renewed forever and no other engine could start the bot."""
        if name in self.owned or self.store.shared:
            self.owned.discard(name)
            await self.store.release_bot(name)

    async def _rebuild(self, r: BotRunner, status: BotStatus) -> BotRunner:
        """A new runner for the bot from what the ledger holds now (another engine ran it)."""
        await _quietly(r.strategy.aclose())
        await _quietly(r.broker.close())
        new = await self._build(r.config, status)
        self._stale.discard(r.name)
        return new

    def _lease_lost(self, bot: str, owner: str) -> None:
        """A write of ``bot`` was refused: another engine took it over. It halts at once."""
        self._taken(bot, owner)

    def _taken(self, bot: str, owner: str, why: str = "") -> None:
        """This engine no longer holds ``bot``: it is halted in a task of its own (a bot
        waiting on a slow exchange must not hold up the renewals of the others)."""
        if bot not in self.owned:
            return
        self.owned.discard(bot)
        self.elsewhere[bot] = owner or "?"
        self._stale.add(bot)
        self._spawn(self._halt_taken(bot, owner, why), f"taken over {bot}")

    async def _halt_taken(self, bot: str, owner: str, why: str) -> None:
        r = self.runners.get(bot)
        by = f"engine {owner}" if owner else "another engine"
        said = EngineError(
            self.now_ms(), why or f"bot {bot} was taken over by {by}; it no longer runs here"
        )
        if r is None:
            self.bus.publish(said)
            return
        self.hub.unsubscribe(r)
        if why:  # said at once: the halt may wait on a write to a database that does not answer
            self.bus.publish(said)
        await _quietly(r.halt())  # its last writes are refused: nothing more is stored
        r.status = BotStatus.STOPPED  # here only: the stored status is its new owner's
        self._publish_view(r)  # with the engine that runs it now
        if not why:
            self.bus.publish(said)

    async def _renewals(self) -> None:
        """Every ttl/3: renew the leases (and the heartbeat); halt the bots taken over; past
        the ttl without a renewal, halt every bot (this engine can no longer prove it owns
        them); take over the running bots whose lease expired or was released.

        A renewal that does not answer within ttl/3 (a hung connection: no error, no reply)
        counts as failed: it is left to finish (one at a time, never stacked) and the clock
        runs on, so the halt past the ttl happens and is said. Takeovers run in a task of
        their own: this engine's own renewals never wait behind them."""
        clock = RenewalClock(self.lease_ttl_s)
        pending: asyncio.Future[list[str]] | None = None
        sent = clock.sent()
        taking: asyncio.Task[None] | None = None
        while True:
            await asyncio.sleep(self.lease_ttl_s / 3)
            if pending is None:  # else the late one is still awaited (its answer counts)
                sent = clock.sent()
                pending = asyncio.ensure_future(self.store.renew_leases(self.lease_ttl_s))
                pending.add_done_callback(_retrieved)
            current = pending
            try:
                lost = await asyncio.wait_for(asyncio.shield(current), self.lease_ttl_s / 3)
                pending = None
            except Exception as e:  # noqa: BLE001 - the database is away: counted, said
                if current.done():  # it failed (not merely late): the next one is sent anew
                    pending = None
                if isinstance(e, TimeoutError):
                    e = StorageError(
                        f"the database did not answer within {self.lease_ttl_s / 3:.1f} s"
                    )
                log.warning("cannot renew the bots' leases: %s", e)
                if self.store.shared and clock.expired() and self.owned:
                    for bot in sorted(self.owned):
                        self._taken(
                            bot,
                            "unknown (leases not renewed)",
                            f"bot {bot} halted: its lease could not be renewed for "
                            f"{clock.since_ok():.0f} s ({e}); another engine may run it now",
                        )
                continue
            clock.succeeded(sent)
            for bot in lost:
                self._taken(bot, "")
            if self.store.shared and (taking is None or taking.done()):
                taking = asyncio.ensure_future(self._take_over_logged())
                self._background.add(taking)
                taking.add_done_callback(self._background.discard)

    async def _take_over_logged(self) -> None:
        """``_take_over``, its failure logged (tried again at the next renewal)."""
        try:
            await self._take_over()
        except Exception:  # noqa: BLE001 - tried again at the next renewal
            log.warning("taking over bots failed", exc_info=True)

    async def _forget_deleted(self, gone: set[str]) -> None:
        """Bots listed here that are no longer stored: deleted from another engine or a shell
        (which refuse a bot whose lease is held, so none of them runs here). They leave the
        list as a local delete does, instead of staying until a restart."""
        for name in sorted(gone):
            r = self.runners.get(name)
            if r is None or name in self.owned or (r.task is not None and not r.task.done()):
                continue
            del self.runners[name]
            self.elsewhere.pop(name, None)
            self._stale.discard(name)
            self.hub.unsubscribe(r)
            await _quietly(r.strategy.aclose())
            await _quietly(r.broker.close())
            self.bus.publish(BotRemoved(self.now_ms(), name))

    async def _take_over(self) -> None:
        """Run here the bots stored running whose lease is free or expired (their engine
        stopped or crashed): each restored from the ledger and settled (LIVE: its orders in
        flight, with the exchange) before it trades, as at a start."""
        listed = set(self.runners)  # before the read: a bot added here after it is stored
        stored = await self.store.load_bots()
        await self._forget_deleted(listed - {c.name for c, _s in stored})
        for config, status in stored:
            name = config.name
            if status not in (BotStatus.RUNNING, BotStatus.PAUSED):
                if name not in self.runners:  # added (stopped) on another engine: listed
                    await self._list_new(config)
                elif self.elsewhere.pop(name, None) is not None:
                    self.runners[name].publish_view()  # stopped on its engine
                continue
            if name in self.owned or self._untaken.waiting(name):
                continue
            r = self.runners.get(name)
            if r is None:  # added on another engine since this one started
                try:
                    r = await self._build(config, BotStatus.STOPPED)
                except OxbotError:
                    self._untaken.failed(name)
                    continue
            elif r.task is not None and not r.task.done():
                continue
            was = self.elsewhere.get(name)
            claim = await self._claim(r)
            if not claim.ok:
                continue
            try:
                r = await self._rebuild(r, BotStatus.STOPPED)
                await self._prepare(r)
                r.status = status
                self._activate(r)
                if claim.must_reconcile:
                    await self.store.bot_reconciled(name)
            except Exception as e:  # noqa: BLE001 - one bot never stops the engine
                self._untaken.failed(name)
                r.status = BotStatus.STOPPED
                await _quietly(self._release(name))
                self.bus.publish(EngineError(self.now_ms(), f"bot {name} not taken over: {e}"))
                continue
            self._untaken.succeeded(name)
            r.publish_view()
            self.bus.publish(
                Notice(
                    self.now_ms(),
                    "info",
                    f"bot {name} taken over from engine {was or 'stopped'} (lease epoch "
                    f"{claim.epoch})",
                    name,
                )
            )

    async def _list_new(self, config: BotConfig) -> None:
        """List here, stopped, a bot another engine of the database added since this one
        started (a strategy that does not load here: listed with its error)."""
        if self._untaken.waiting(config.name) or config.name in self.runners:
            return
        try:
            r = await self._build(config, BotStatus.STOPPED, tolerate_strategy=True)
        except OxbotError:
            self._untaken.failed(config.name)  # listed again after a while, not every renewal
            return
        r.status = BotStatus.STOPPED
        r.publish_view()

    async def _refused_name(self, name: str) -> str:
        """Why AddBot ``name`` is refused when the database already holds a live bot of that
        name this engine has not listed (another engine added it meanwhile): the bot is
        listed here at once (the next renewal finds the engine that runs it)."""
        if not self.store.shared:
            return f"a bot named {name!r} already exists in the database; pick another name"
        try:
            for config, _ in await self.store.load_bots():
                if config.name == name:
                    await self._list_new(config)
        except Exception:  # noqa: BLE001 - the refusal stands; the next renewal lists it
            log.warning("listing the bots of the database failed", exc_info=True)
        owner = self.elsewhere.get(name)
        where = f"; it runs on engine {owner}" if owner else ""
        return (
            f"a bot named {name!r} exists (added by another engine of this database{where}); "
            "pick another name"
        )

    async def _on_AddBot(self, cmd: AddBot) -> str:
        cfg = cmd.config
        if cfg is None:
            raise ConfigError("AddBot needs a config")
        if cfg.name in self.runners:
            raise ConfigError(f"a bot named {cfg.name!r} already exists; pick another name")
        # validates the strategy and its parameters first, then what the bot needs to run
        strategy = self.strategy_factory(cfg)
        check_warmup(strategy, cfg.name)
        await self._preflight(cfg, strategy)
        self.broker_factory(cfg)
        try:  # an insert only: a live bot of that name (another engine's) is never replaced
            await self.store.add_bots([cfg], BotStatus.STOPPED)
        except ConfigError:
            raise ConfigError(
                f"{await self._refused_name(cfg.name)}; nothing was written"
            ) from None
        r = await self._build(cfg, BotStatus.STOPPED)
        if cmd.start:
            await self._start(r)
        r.publish_view()
        return f"bot {cfg.name} added"

    async def _on_UpdateBot(self, cmd: UpdateBot) -> str:
        old = self._here(cmd.name)
        cfg = cmd.config
        if cfg is None:
            raise ConfigError("UpdateBot needs a config")
        if cfg.name != cmd.name:
            raise ConfigError("a bot cannot be renamed; create a new bot instead")
        held = set(old.portfolio.positions)
        moved = cfg.mode != old.config.mode or cfg.exchange != old.config.exchange
        if held and (moved or not held <= set(cfg.symbols)):
            what = "mode or exchange" if moved else "symbols"
            raise ConfigError(
                f"{cmd.name} holds {', '.join(sorted(held))}: flatten it (f) before changing "
                f"its {what}; nothing was changed"
            )
        if moved or cfg.capital != old.config.capital:
            # the order may still fill: the old broker must follow it, and the cash it takes
            # is not free for a withdrawal yet
            await self._refuse_while_unresolved(old, "changing its mode, exchange or capital")
        strategy = self.strategy_factory(cfg)
        check_warmup(strategy, cfg.name)
        await self._preflight(cfg, strategy)
        self.broker_factory(cfg)
        self._mark(old)
        capital_flow(old, cfg, self.now_ms())  # a withdrawal it cannot pay: refused right here
        was = old.status
        await self._stop(old, BotStatus.STOPPED)
        try:  # again now that no order is in flight: the cash it checks is final
            flow = capital_flow(old, cfg, self.now_ms())
        except ConfigError:
            if was in (BotStatus.RUNNING, BotStatus.PAUSED):
                await self._start(old, was)
            raise
        await old.strategy.aclose()
        await _quietly(old.broker.close())  # its key lock and order timer; the new one starts
        if flow is None:
            await self.store.save_bot(cfg, BotStatus.STOPPED)
        else:  # the config, the deposit or withdrawal and the rescaled switches: one write
            risk = old.risk.state().after_flow(flow.equity_before, flow.amount)
            await self.store.save_bot(cfg, BotStatus.STOPPED, flow=flow, risk=risk)
        r = await self._build(cfg, BotStatus.STOPPED)
        r.marks.update(old.marks)  # valued at the last prices now, not at cost until a tick
        if flow is not None:  # say it, and what the new equity leaves over a limit
            events, record = capital_changed(r, flow)
            for ev in events:
                self.bus.publish(ev)
            await self.store.record_cycle(r.name, decision=record)
        if was in (BotStatus.RUNNING, BotStatus.PAUSED):
            try:
                await self._start(r, was)
            except NotAfterPanic as e:  # the new config is stored: say so, and why it is stopped
                r.publish_view()
                return f"bot {cfg.name} updated; {e}"
        elif cfg.mode is Mode.LIVE and await self.store.open_orders(cfg.name):
            await self._prepare(r, trading=False)  # its orders are followed, stopped or not
        r.publish_view()
        return f"bot {cfg.name} updated"

    async def _refuse_while_unresolved(self, r: BotRunner, what: str) -> None:
        """ConfigError while a LIVE bot has an order whose end the exchange has not told."""
        if r.config.mode is not Mode.LIVE:
            return
        pending = await self.store.open_orders(r.name)
        if pending:
            o = pending[0]
            raise ConfigError(
                f"{r.name} has {_count(len(pending), 'order')} the exchange has not ended yet "
                f"({o.client_order_id}, {o.status.value}): wait until it settles, or resolve it "
                f"in reconciliation (r); {what} must wait, nothing was changed"
            )

    def _mark(self, r: BotRunner) -> None:
        """Fill in the last price of each of the bot's symbols it has not seen yet."""
        for key in r.config.stream_keys():
            px = self.hub.last_price(key)
            if px is not None and key.symbol not in r.marks:
                r.marks[key.symbol] = Decimal(repr(px))

    async def _start(self, r: BotRunner, status: BotStatus = BotStatus.RUNNING) -> None:
        """Prepare, subscribe and run the bot, and only then store it as running: a bot that
        fails to start stays stopped (a later engine start would otherwise fail it again).
        ``status`` PAUSED: an edited paused bot comes back paused, never running meanwhile
        (candles go by while the status is stored)."""
        self._not_after_panic(r)
        claim = await self._claim(r)
        if not claim.ok:
            raise ConfigError(
                f"bot {r.name} runs on engine {claim.owner} ({claim.owner_host}); stop it there "
                "first"
            )
        try:
            if r.name in self._stale:  # another engine ran it: its state comes from the ledger
                r = await self._rebuild(r, BotStatus.STOPPED)
            await self._prepare(r)  # a LIVE start may wait on the exchange meanwhile
            self._not_after_panic(r)
            r.status = status
            try:
                self._activate(r)
            except BaseException:
                r.status = BotStatus.STOPPED
                r.publish_view()
                raise
            r.consecutive_errors = 0
            r.last_error = ""
            await r.set_status(status)
            if claim.must_reconcile:
                await self.store.bot_reconciled(r.name)
        except BaseException:
            if r.status is BotStatus.STOPPED:
                await _quietly(self._release(r.name))
            raise

    def _not_after_panic(self, r: BotRunner) -> None:
        if SENT_AT_PANIC.get() != self.panics:
            raise NotAfterPanic(
                f"{r.name} not started: PANIC stopped every bot after the start "
                "was asked; start it again if you mean it"
            )

    async def _stop(self, r: BotRunner, status: BotStatus) -> None:
        self.hub.unsubscribe(r)
        await r.halt()
        await r.set_status(status)
        if status is BotStatus.STOPPED:
            await self._release(r.name)

    async def _on_StartBot(self, cmd: StartBot) -> str:
        r = self._runner(cmd.name)
        if r.status is BotStatus.RUNNING:
            return f"{cmd.name} is already running"
        if r.status is not BotStatus.PAUSED:
            await self._fresh_strategy(r)
        await self._start(r)
        return f"{cmd.name} started"

    async def _on_StopBot(self, cmd: StopBot) -> str:
        r = self._here(cmd.name)
        close = cmd.close_positions
        if close is None:
            close = r.config.on_stop == "close"
        await self._stop(r, BotStatus.STOPPED)
        held = len(r.portfolio.positions)
        if not held:
            return f"{cmd.name} stopped"
        if close:
            n = await self._flatten(r)
            return f"{cmd.name} stopped; {_count(n, 'position')} closed"
        return (
            f"{cmd.name} stopped; {_count(held, 'position')} kept: stop-loss and "
            "take-profit are not watched until it runs again"
        )

    async def _on_PauseBot(self, cmd: PauseBot) -> str:
        r = self._here(cmd.name)
        if r.status is not BotStatus.RUNNING:
            raise ConfigError(f"{cmd.name} is {r.status.value}; only a running bot can pause")
        await r.set_status(BotStatus.PAUSED)
        return f"{cmd.name} paused (stop-loss and take-profit still watched)"

    async def _on_ResumeBot(self, cmd: ResumeBot) -> str:
        r = self._here(cmd.name)
        if r.status is not BotStatus.PAUSED:
            raise ConfigError(f"{cmd.name} is {r.status.value}, not paused")
        await r.set_status(BotStatus.RUNNING)
        return f"{cmd.name} resumed"

    async def _on_FlattenBot(self, cmd: FlattenBot) -> str:
        r = self._here(cmd.name)
        n = await self._flatten(r)
        text = f"{cmd.name}: {n} position(s) closed"
        if r.flatten_pending:
            text += (
                "; an order's outcome is still unknown: what is left closes as soon as the "
                "exchange says what became of it"
            )
        return text

    async def _flatten(self, r: BotRunner) -> int:
        self._mark(r)
        return await r.flatten(self.now_ms())

    async def _on_DeleteBot(self, cmd: DeleteBot) -> str:
        if cmd.name not in self.runners and cmd.purge_history:  # the history of a deleted bot
            if not await self.store.delete_bot(cmd.name, purge_history=True):
                raise ConfigError(f"no bot named {cmd.name!r}")
            return f"history of {cmd.name} purged"
        r = self._here(cmd.name)
        await self._refuse_while_unresolved(r, "deleting it")
        await self._stop(r, BotStatus.STOPPED)
        await _quietly(r.strategy.aclose())
        await _quietly(r.broker.close())
        await self.store.delete_bot(cmd.name, purge_history=cmd.purge_history)
        del self.runners[cmd.name]
        self.bus.publish(BotRemoved(self.now_ms(), cmd.name))
        kept = "history purged" if cmd.purge_history else "history kept"
        return f"bot {cmd.name} deleted ({kept})"

    async def _on_HoldDecisions(self, cmd: HoldDecisions) -> str:
        was = self.hold.reason()
        if cmd.hold:
            self.hold.hold(cmd.seconds, cmd.why)
            if not was:
                log.info(
                    "new decisions held: %s (for %g s unless renewed)",
                    cmd.why,
                    lease_s(cmd.seconds),
                )
        else:
            self.hold.release()
            if was:
                log.info("new decisions allowed again")
        return ""

    async def _on_PanicAll(self, cmd: PanicAll) -> str:
        """Stop every bot, then close every position. A bot whose order is in flight (a slow
        exchange) is stopped at once like the others, but PANIC does not wait more than
        PANIC_WAIT_S for that order: its positions are closed as soon as it settles, and a
        Notice says so."""
        self.panics += 1  # a start in flight or queued no longer brings its bot back
        self.hold.release()
        # not the bots another engine runs (their own engine's PANIC stops them)
        runners = [r for r in self.runners.values() if r.name not in self.elsewhere]
        active = [r for r in runners if r.status is not BotStatus.STOPPED]
        for r in active:  # before the first await: no bot starts another cycle from here on
            self.hub.unsubscribe(r)
            r.status = BotStatus.STOPPED
        # then wait out what was in flight (briefly), and record the status
        stops = {r: asyncio.ensure_future(self._stop(r, BotStatus.STOPPED)) for r in active}
        if stops:
            await asyncio.wait(stops.values(), timeout=PANIC_WAIT_S)
        late = [r for r, task in stops.items() if not task.done()]
        for r in late:
            self._spawn(self._panic_when_settled(r, stops[r]), f"PANIC {r.name}")
        ready = [r for r in runners if r not in late]
        failed = [
            f"{r.name}: {t.exception()}"
            for r, t in stops.items()
            if t.done() and not t.cancelled() and t.exception() is not None
        ]
        # only now close positions: nothing can open new ones meanwhile; bots side by side,
        # so one slow exchange does not hold up the others
        results = await asyncio.gather(*(self._flatten(r) for r in ready), return_exceptions=True)
        closed = sum(n for n in results if isinstance(n, int))
        failed += [
            f"{r.name}: {e}"
            for r, e in zip(ready, results, strict=True)
            if isinstance(e, BaseException)
        ]
        after = [r.open_after_flatten() for r in ready]
        left, waiting = sum(a for a, _ in after), sum(w for _, w in after)
        elsewhere = self._not_panicked()
        if left or failed:
            raise OxbotError(
                f"PANIC incomplete: {_count(closed, 'position')} closed, "
                f"{_count(left, 'position')} still open"
                + (f" ({'; '.join(failed)})" if failed else "")
                + elsewhere
            )
        text = (
            f"PANIC done: {_count(len(active), 'bot')} stopped, {_count(closed, 'position')} closed"
        )
        pending = [r.name for r in ready if r.flatten_pending]
        if pending:
            text += (
                f"; {', '.join(pending)}: an order's outcome is still unknown "
                f"({_count(waiting, 'position')} waiting on it); their positions close "
                "as soon as the exchange says what became of it"
            )
        if late:
            names = ", ".join(r.name for r in late)
            text += (
                f"; {names}: an order is still in flight, the bot is stopped and its "
                "positions close as soon as that order settles"
            )
        if elsewhere:  # a PANIC that left bots trading is not "done": said, and it fails
            raise OxbotError(text + elsewhere)
        return text

    def _not_panicked(self) -> str:
        """The bots another engine of the database runs, which this PANIC did not reach
        (each engine stops only its own): "" when none."""
        by: dict[str, list[str]] = {}
        for bot, owner in sorted(self.elsewhere.items()):
            by.setdefault(owner, []).append(bot)
        return "".join(
            f"; NOT STOPPED: {', '.join(bots)} {'runs' if len(bots) == 1 else 'run'} on engine "
            f"{owner}: run `oxbot panic --yes` there"
            for owner, bots in by.items()
        )

    async def _panic_when_settled(self, r: BotRunner, stop: asyncio.Future[None]) -> None:
        """PANIC's part for a bot whose order was in flight: wait it out, then close."""
        try:
            await stop
            n = await self._flatten(r)
            left = sum(r.open_after_flatten())
            level, text = (
                "info",
                f"PANIC: {r.name}'s order in flight settled; {_count(n, 'position')} closed",
            )
            if left:
                level, text = "error", f"{text}, {_count(left, 'position')} still open"
        except Exception as e:  # noqa: BLE001 - reported, never lost in a task
            log.exception("PANIC: closing %s failed", r.name)
            level, text = "error", f"PANIC: closing {r.name}'s positions failed: {e}"
        self.bus.publish(Notice(self.now_ms(), level, text, r.name))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_RequestSnapshot(self, cmd: RequestSnapshot) -> str:
        self.bus.publish(self.snapshot())
        return ""

    async def _on_RequestEquityHistory(self, cmd: RequestEquityHistory) -> str:
        limit = max(1, min(cmd.limit, EQUITY_HISTORY_MAX))
        points = await self.store.equity_series(cmd.bot, limit=limit)
        flows = await self.store.load_flows(cmd.bot)
        self.bus.publish(
            EquityHistory(
                self.now_ms(),
                cmd.bot,
                tuple((int(ts), Decimal(eq)) for ts, eq in points),
                tuple((f.ts, f.amount) for f in flows),
            )
        )
        return ""

    async def _on_RequestDecisionHistory(self, cmd: RequestDecisionHistory) -> str:
        limit = max(1, min(cmd.limit, DECISION_HISTORY_MAX))
        records = await self.store.recent_decisions(cmd.bot, limit)
        self.bus.publish(
            DecisionHistory(self.now_ms(), cmd.bot, tuple(_decision_event(d) for d in records))
        )
        return ""

    async def _on_RequestRecentFills(self, cmd: RequestRecentFills) -> str:
        limit = max(1, min(cmd.limit, RECENT_FILLS_MAX))
        fills = await self.store.recent_fills(cmd.bot or None, limit)
        self.bus.publish(
            RecentFills(
                self.now_ms(),
                cmd.bot,
                tuple(
                    OrderFilled(
                        f.ts,
                        f.bot,
                        f.symbol,
                        f.side.value,
                        f.qty,
                        f.price,
                        f.fee,
                        f.reason.value,
                        f.realised or ZERO,
                        f.client_order_id,
                    )
                    for f in fills
                ),
            )
        )
        return ""

    async def _on_RequestReconcile(self, cmd: RequestReconcile) -> str:
        """Re-publish the reconciliation differences still waiting for a choice (a display
        attaching after the LIVE bots started)."""
        for r in list(self.runners.values()):
            items = r.broker.reconcile_items()
            if (not cmd.bot or r.name == cmd.bot) and items:
                self.bus.publish(ReconcileFound(self.now_ms(), r.name, items))
        return ""

    async def _on_ResolveReconcile(self, cmd: ResolveReconcile) -> str:
        r = self._here(cmd.bot)
        if r.config.mode is not Mode.LIVE:
            raise ConfigError(f"{cmd.bot} is not a LIVE bot: it has nothing to reconcile")
        message, executions = await r.broker.resolve_reconcile(cmd.item_id, cmd.action)
        if executions:
            async with r.lock:
                await r.record_executions(executions, self.now_ms())
        return message


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


async def _quietly(aw: Awaitable[object]) -> None:
    try:
        await aw
    except Exception:  # noqa: BLE001 - closing must not fail shutdown
        log.debug("close failed", exc_info=True)


class NotAfterPanic(OxbotError):
    """A start asked before a PANIC that came first: refused (the user starts it again)."""


def _decision_event(d: DecisionRecord) -> DecisionMade:
    """A stored decision as the event it was published as (its reasons as one text)."""
    pairs = (a.rsplit(":", 1) for a in d.actions.split() if ":" in a)
    actions = tuple((symbol, action) for symbol, action in pairs)
    return DecisionMade(
        d.ts,
        d.bot,
        d.source,
        actions,
        d.reasoning,
        d.verdict,
        (d.verdict_reasons,) if d.verdict_reasons else (),
        tuple(i for i in d.order_ids.split(",") if i),
    )


def _retrieved(done: asyncio.Future[Any]) -> None:
    """A renewal left to finish after its deadline: its error was said when it timed out."""
    if not done.cancelled():
        done.exception()
