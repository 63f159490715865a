"""The arena on live paper data (market = "live"): every contestant is a PAPER bot named
``arena-<contestant>`` in one in-process engine built by the composition root
(app/runtime.py), on a real exchange's live candles, each in its own ledger of the arena's own
database, for the arena's duration.

All bots are stored running before the engine starts, so they start together and see the same
candles. The leaderboard is read from the ledger every ``ArenaOptions.board_every_s`` seconds
(fills and equity points of each bot: trades are closed round trips of its fills, Sharpe and
drawdown come from engine/backtest/metrics.py over its equity points) and handed to the
progress callback, from the thread that called ``run_live``. A progress callback that raises
(the cockpit's escape), ``ArenaOptions.cancel`` or the end of the duration stops the engine
cleanly; the final board is read after it stopped.

The baseline is not a bot: it is computed from the candles the hub delivers (the first
arena bot's CandleClosed events): the cash split equally over the symbols, each part bought at
its first closed candle's close through the paper broker's fill (same fee and slippage), marked
at every close, sold at the last one. LLM contestants call their models live: there is no reply
cache on live candles.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.app.arena_model import ArenaResult, ContestantResult, EquitySeries
from oxbot.app.arena_spec import BASELINE_NAME, ArenaSpec, Contestant
from oxbot.engine.errors import UsageError

Progress = Callable[[ArenaResult], None]

BOARD_EVERY_S = 5.0


def check_paper(spec: ArenaSpec) -> None:
    """UsageError unless every contestant's bot trades PAPER."""
    from oxbot.engine.models import Mode  # noqa: PLC0415

    for c in spec.contestants:
        if c.config.mode is not Mode.PAPER:
            raise UsageError(
                f"{spec.path}: contestant {c.name}: mode {c.config.mode.value}; "
                "an arena trades PAPER only (LIVE refused)"
            )


def paid_contestants(spec: ArenaSpec) -> list[str]:
    """The LLM contestants whose model is paid (engine/llm/catalog.py FREE_PROVIDERS)."""
    from oxbot.engine.llm.catalog import FREE_PROVIDERS  # noqa: PLC0415

    return [
        c.name
        for c in spec.contestants
        if c.kind == "llm"
        and str(c.config.params.get("provider") or "offline") not in FREE_PROVIDERS
    ]


def check_paid(spec: ArenaSpec, paid: bool) -> None:
    """UsageError when a contestant would call a paid model without the user's leave (the
    cockpit never gives it; `oxbot arena --yes` does)."""
    names = paid_contestants(spec)
    if names and not paid:
        raise UsageError(
            f"{spec.path}: {', '.join(names)} would call a paid model live (no reply cache on "
            "live candles); run it with `oxbot arena FILE --yes`, or use a local model"
        )


def arena_db(spec: ArenaSpec, started: datetime) -> Path:
    """The file given in the arena (``[arena.live] db``), else a new file in the data folder
    named after the arena and its start time (never an existing one)."""
    if spec.db is not None:
        return spec.db
    from oxbot.storage.paths import data_dir  # noqa: PLC0415

    slug = re.sub(r"[^A-Za-z0-9]+", "-", spec.title).strip("-").lower()[:40] or "arena"
    stem = f"arena-{slug}-{started.strftime('%Y%m%d-%H%M%S')}"
    path, n = data_dir() / f"{stem}.db", 1
    while path.exists():
        n += 1
        path = data_dir() / f"{stem}-{n}.db"
    return path


def run_live(
    spec: ArenaSpec,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    board_every_s: float = BOARD_EVERY_S,
    paid: bool = False,
) -> ArenaResult:
    """Run the live arena (blocking; its own event loop on the calling thread) until its
    duration ends or ``cancel`` is set; returns the final board. ``paid``: LLM contestants
    may call paid models (else they are refused before anything starts)."""
    check_paper(spec)
    check_paid(spec, paid)
    started = datetime.now(UTC)
    run = _LiveRun(spec, arena_db(spec, started), progress, cancel or threading.Event())
    return asyncio.run(run.run(board_every_s))


class _Hold:
    """The buy-and-hold baseline, from the closed candles of one arena bot."""

    def __init__(self, spec: ArenaSpec, bot: str, step_ms: int) -> None:
        from oxbot.engine.paper import PaperBroker  # noqa: PLC0415

        self.spec, self.bot, self.step_ms = spec, bot, step_ms
        self.broker = PaperBroker(spec.fee_rate, spec.slippage_bps)
        self.part = spec.capital / len(spec.symbols)
        self.held: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # sym -> qty, left, fee
        self.last: dict[str, Decimal] = {}
        self.closes: dict[int, dict[str, float]] = {}
        self.first_ms = 0
        self.last_ms = 0

    def on_event(self, ev: Any) -> None:
        from oxbot.engine.messages import CandleClosed  # noqa: PLC0415
        from oxbot.engine.models import OrderIntent, OrderReason, Side, to_decimal  # noqa: PLC0415
        from oxbot.engine.risk import QTY_STEP, floor_to  # noqa: PLC0415

        if not isinstance(ev, CandleClosed) or ev.bot != self.bot:
            return
        price = to_decimal(ev.close)
        if ev.symbol not in self.held:
            fee, slip = self.spec.fee_rate, self.spec.slippage_bps
            qty = floor_to(self.part / (price * (1 + slip / 10_000) * (1 + fee)), QTY_STEP)
            intent = OrderIntent("hold", ev.symbol, Side.BUY, qty, OrderReason.ENTRY, "b")
            buy = self.broker.fill(intent, price, ev.ts)
            self.held[ev.symbol] = (qty, self.part - buy.qty * buy.price - buy.fee, buy.fee)
            self.first_ms = self.first_ms or ev.ts
        self.last[ev.symbol] = price
        self.last_ms = max(self.last_ms, ev.ts)
        self.closes.setdefault(ev.ts, {})[ev.symbol] = ev.close

    def marks(self) -> dict[str, Decimal]:
        return dict(self.last)

    def row_and_curve(self) -> tuple[ContestantResult, EquitySeries]:
        from oxbot.engine.models import OrderIntent, OrderReason, Side  # noqa: PLC0415

        syms = self.spec.symbols
        cash = self.spec.capital
        ts = sorted(t for t, c in self.closes.items() if len(c) == len(syms))
        curve = [
            sum(float(self.held[s][1]) + float(self.held[s][0]) * self.closes[t][s] for s in syms)
            for t in ts
        ]
        if len(self.held) < len(syms):  # not every symbol had a candle yet: all cash
            row = _empty_row(BASELINE_NAME, "baseline", "buy & hold", cash)
            return row, EquitySeries(BASELINE_NAME, ts, curve)
        total, fees, wins = Decimal(0), Decimal(0), 0
        for s in syms:
            qty, left, fee = self.held[s]
            intent = OrderIntent("hold", s, Side.SELL, qty, OrderReason.EXIT, "s")
            sell = self.broker.fill(intent, self.last[s], self.last_ms)
            part = left + sell.qty * sell.price - sell.fee
            total += part
            fees += fee + sell.fee
            wins += part > self.part
        row = _row(
            BASELINE_NAME,
            "baseline",
            "buy & hold",
            cash,
            total,
            fees,
            curve,
            len(syms),
            wins,
            self.step_ms,
            bot=False,
        )
        if curve:
            curve[-1] = float(total)  # sold at the last close, after its fee
        return row, EquitySeries(BASELINE_NAME, ts, curve)


def _empty_row(name: str, kind: str, label: str, cash: Decimal) -> ContestantResult:
    return ContestantResult.empty(name, kind, label, cash)


def _row(
    name: str,
    kind: str,
    label: str,
    cash: Decimal,
    final: Decimal,
    fees: Decimal,
    curve: list[float],
    trades: int,
    wins: int,
    step_ms: int,
    bot: bool = True,
    **extra: Any,
) -> ContestantResult:
    """A leaderboard row; Sharpe needs MIN_PERIODS returns of ``curve`` and, for a bot,
    MIN_TRADES closed trades, as in the backtest metrics (the baseline: returns only)."""
    import numpy as np  # noqa: PLC0415

    from oxbot.engine.backtest.metrics import (  # noqa: PLC0415
        MIN_PERIODS,
        bars_per_year,
        enough_samples,
        max_drawdown_pct,
        sharpe,
    )

    eq = np.asarray(curve, dtype=np.float64)
    periods = len(eq) - 1
    shown = enough_samples(periods, trades) if bot else periods >= MIN_PERIODS
    return ContestantResult(
        name=name,
        kind=kind,
        label=label,
        start_cash=cash,
        final_equity=final,
        pnl=final - cash,
        return_pct=float((final / cash - 1) * 100),
        sharpe=sharpe(eq, bars_per_year(step_ms)) if shown else None,
        max_drawdown_pct=max_drawdown_pct(eq) if len(eq) else 0.0,
        win_rate_pct=wins / trades * 100 if trades else None,
        trades=trades,
        fees=fees,
        **extra,
    )


def ledger_figures(
    fills: list[Any], cash: Decimal, marks: dict[str, Decimal]
) -> tuple[Decimal | None, Decimal, int, int]:
    """(equity at ``marks`` or None when a held symbol has no mark, fees, closed round trips,
    winning ones) of a bot's fills; a round trip's result is its realised P&L less the fees of
    its fills."""
    from oxbot.engine.portfolio import Portfolio  # noqa: PLC0415

    p = Portfolio(cash)
    trip: dict[str, Decimal] = {}
    wins = 0
    for f in sorted(fills, key=lambda f: f.ts):
        before = p.trades
        pnl = p.apply(f)
        trip[f.symbol] = trip.get(f.symbol, Decimal(0)) + pnl - f.fee
        if p.trades > before:
            wins += trip.pop(f.symbol) > 0
    held = p.positions
    equity = p.equity(marks) if all(s in marks for s in held) else None
    return equity, p.fees, p.trades, wins


class _LiveRun:
    def __init__(
        self, spec: ArenaSpec, db: Path, progress: Progress | None, cancel: threading.Event
    ) -> None:
        from oxbot.app.backtests import timeframe_ms  # noqa: PLC0415

        self.spec, self.db, self.progress, self.cancel = spec, db, progress, cancel
        self.step_ms = timeframe_ms(spec.timeframe)
        first = spec.contestants[0].config.name
        self.hold = _Hold(spec, first, self.step_ms)
        self.engine: Any = None
        self.t0 = 0.0
        self.errors: dict[str, str] = {}  # bot -> the engine's error about it

    async def run(self, board_every_s: float) -> ArenaResult:
        from oxbot.app.runtime import RuntimeOptions, build_engine, exchange_options  # noqa: PLC0415
        from oxbot.storage.store import Store  # noqa: PLC0415

        store = await Store.open(self.db)
        try:
            await self._store_bots(store)
            opts = RuntimeOptions(
                db_path=self.db, resume=True, snapshot_every_s=None, **exchange_options()
            )
            self.engine = await build_engine(opts, store=store)
            unlisten = self.engine.bus.listen(self._on_event)
            task = asyncio.create_task(self.engine.run(), name="arena-engine")
            try:
                ready = asyncio.create_task(self.engine.ready.wait())
                await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                if task.done():
                    task.result()  # the engine could not start: its error
                    raise UsageError("the engine stopped before it ran")
                self.t0 = time.monotonic()
                await self._watch(board_every_s, task)
            finally:
                if not task.done():
                    self.engine.request_stop()
                await asyncio.gather(task, return_exceptions=True)
                unlisten()
            result = await self.board()
            result.fraction = 1.0
            result.done = result.total
            return result
        finally:
            await store.close()

    def _on_event(self, ev: Any) -> None:
        """The baseline's candles, and why a bot could not start (its row's error)."""
        from oxbot.engine.messages import EngineError  # noqa: PLC0415

        self.hold.on_event(ev)
        if isinstance(ev, EngineError) and ev.message.startswith("bot "):
            name = ev.message[4:].split(" ", 1)[0].rstrip(":")
            self.errors[name] = ev.message

    async def _store_bots(self, store: Any) -> None:
        """The arena's bots, stored running (the engine starts them together). A database
        that already holds one of them (an earlier run), or other bots that would start with
        the engine, is refused."""
        from oxbot.engine.models import BotStatus  # noqa: PLC0415

        names = {c.config.name for c in self.spec.contestants}
        for config, status in await store.load_bots():
            if config.name in names:
                raise UsageError(
                    f"{self.db}: already holds bot {config.name} (an earlier arena run); "
                    "give a new db in [arena.live], or drop db for a new file"
                )
            if status in (BotStatus.RUNNING, BotStatus.PAUSED):
                raise UsageError(
                    f"{self.db}: bot {config.name} is {status.value} there and would run with "
                    "the arena; stop it first, or use another db"
                )
        await store.add_bots([c.config for c in self.spec.contestants], BotStatus.RUNNING)

    async def _watch(self, every_s: float, task: asyncio.Task[None]) -> None:
        """Board after board until the duration ends, ``cancel`` is set or the engine stopped;
        the progress callback's exception (the cockpit's escape) is re-raised after the stop."""
        end = self.t0 + self.spec.duration_s
        next_board = self.t0
        while not task.done() and not self.cancel.is_set():
            now = time.monotonic()
            if now >= end:
                return
            if now >= next_board:
                next_board = now + every_s
                if self.progress is not None:
                    self.progress(await self.board())
            await asyncio.sleep(min(0.1, max(0.0, end - now)))
        if task.done():
            task.result()  # the engine's own failure

    async def board(self) -> ArenaResult:
        """The leaderboard now, from each bot's ledger."""
        spec = self.spec
        marks = self.hold.marks()
        base_row, base_curve = self.hold.row_and_curve()
        rows, curves = [], []
        for c in spec.contestants:
            row, curve = await self._contestant(c, marks)
            rows.append(row)
            curves.append(curve)
        elapsed = time.monotonic() - self.t0 if self.t0 else 0.0
        first = self.hold.first_ms - self.step_ms if self.hold.first_ms else 0
        now_ms = int(time.time() * 1000)
        return ArenaResult(
            title=spec.title,
            market=spec.market_label,
            symbols=list(spec.symbols),
            timeframe=spec.timeframe,
            first_ms=first or now_ms,
            last_ms=self.hold.last_ms or now_ms,
            start_cash=spec.capital,
            rows=[*rows, base_row],
            curves=[*curves, base_curve],
            done=0,
            total=len(spec.contestants) + 1,
            fraction=min(1.0, elapsed / spec.duration_s),
            calls_now=sum(r.llm_calls for r in rows),
            spent_now=sum((r.llm_cost for r in rows), Decimal(0)),
        )

    async def _contestant(
        self, c: Contestant, marks: dict[str, Decimal]
    ) -> tuple[ContestantResult, EquitySeries]:
        store, cfg = self.engine.store, c.config
        fills = await store.load_fills(cfg.name)
        points = await store.equity_since(cfg.name, 0)
        ts = [int(t) for t, _ in points]
        curve = [float(v) for _, v in points]
        equity, fees, trades, wins = ledger_figures(fills, cfg.capital, marks)
        if equity is None:
            equity = points[-1][1] if points else cfg.capital
        runner = self.engine.runners.get(cfg.name)
        view = runner.view() if runner is not None else None
        extra: dict[str, Any] = {}
        if view is not None and view.llm is not None:
            f = view.llm
            ret = float((equity / cfg.capital - 1) * 100)
            extra = {
                "llm_calls": f.llm_calls,
                "tokens": f.tokens_in_total + f.tokens_out_total,
                "llm_cost": f.cost_total,
                "failures": f.failures,
                "calls_saved": f.calls_saved,
                "return_per_dollar": ret / float(f.cost_total) if f.cost_total > 0 else None,
            }
        error = None
        if view is None:
            error = self.errors.get(cfg.name, "its bot was not loaded")
        elif view.status.value == "error":
            error = view.last_error or self.errors.get(cfg.name) or "its bot stopped in error"
        elif view.status.value == "stopped":  # it could not start (no one else stops it)
            error = self.errors.get(cfg.name, "its bot stopped")
        row = _row(
            c.name,
            c.kind,
            c.label,
            cfg.capital,
            equity,
            fees,
            curve,
            trades,
            wins,
            self.step_ms,
            error=error,
            **extra,
        )
        return row, EquitySeries(c.name, ts, curve)
