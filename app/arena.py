"""The local arena: every contestant of an arena file (app/arena_spec.py) on the same candles
with the same capital, fees and risk limits, each in its own bot backtest (its own portfolio,
risk manager and paper broker: engine/backtest/botrun.py), plus the buy-and-hold baseline.

Contestants run on worker threads, at most one per core. Why threads and not processes (as the
parameter sweep uses): an arena's time goes to LLM contestants waiting on their models (the
interpreter lock is free meanwhile, so their calls overlap), and each LLM run keeps its own event
loop and reply-cache connection, made on the thread that uses them; a rule contestant's replay
is a few seconds at most, less than starting a process that imports pandas. The progress
callback is called from those threads, one call at a time.

LLM contestants go through the reply cache (engine/backtest/replies.py): a rerun reads every
reply from it, calls no model and gives the same table (the figures are those of the replies,
recorded when they were first received). A contestant that fails (a bad parameter, no reply
under --cache-only, every model call failed) gets ``error`` set; the others still finish.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oxbot.app.arena_model import ArenaResult, ContestantResult, EquitySeries
from oxbot.app.arena_spec import BASELINE_NAME, DEFAULT_SIM_START, ArenaSpec, Contestant, load_arena
from oxbot.engine.errors import DataError, OxbotError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Progress = Callable[[ArenaResult], None]

__all__ = ["ArenaOptions", "ArenaSpec", "estimates", "load_arena", "load_frames", "run_arena"]


@dataclass
class ArenaOptions:
    """How LLM contestants may reach their models. By default (the cockpit) a paid model is
    never called: its replies come from the cache only; ``paid`` allows the calls (the CLI sets
    it after the estimate and the user's leave); ``cache_only`` calls no model at all, free
    ones included. ``replies``: the cache file (None: ``<data dir>/llm_replies.sqlite``)."""

    paid: bool = False
    cache_only: bool = False
    replies: Path | None = None
    workers: int | None = None  # None: one per core, at most one per contestant
    # Set it (from any thread) to stop the run: each running contestant stops at its next
    # candle and gets the error "cancelled", the ones not started too.
    cancel: threading.Event | None = None
    # market = "live": seconds between two leaderboards read from the ledger (app/arena_live.py)
    board_every_s: float = 5.0


class Cancelled(OxbotError):
    """The arena was stopped (ArenaOptions.cancel, or Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__("cancelled")


# ---------------------------------------------------------------------------- candles


def load_frames(spec: ArenaSpec) -> dict[str, pd.DataFrame]:
    """symbol -> candles (``ts`` in ms, open, high, low, close, volume): the CSV files, or the
    sim market's seeded candles (engine/market/sim.py ``SyntheticSeries``: the same seed gives
    the same candles) from ``since`` (else DEFAULT_SIM_START) on."""
    import pandas as pd  # noqa: PLC0415

    from oxbot.app.backtests import load_candles  # noqa: PLC0415
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.market.sim import SyntheticSeries  # noqa: PLC0415

    if spec.sim is None:
        frames = {s: load_candles(path) for s, path in spec.csv.items()}
        _check_steps(spec, frames)
        return frames
    start = spec.since_ms if spec.since_ms is not None else parse_date(DEFAULT_SIM_START, "start")
    out = {}
    for sym in spec.symbols:
        ts, rows = SyntheticSeries(spec.sim.seed, sym, spec.timeframe, start).take(spec.sim.bars)
        frame = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"])
        frame.insert(0, "ts", ts)
        out[sym] = frame
    return out


def _check_steps(spec: ArenaSpec, frames: dict[str, pd.DataFrame]) -> None:
    """DataError when a whole file's most common candle step (the backtest's, csvdata.py
    ``step_ms``) is not the arena's timeframe (told from the files' heads)."""
    from oxbot.app.backtests import timeframe, timeframe_ms  # noqa: PLC0415
    from oxbot.engine.market.csvdata import step_ms  # noqa: PLC0415

    want = timeframe_ms(spec.timeframe)
    for sym, frame in frames.items():
        step = step_ms(frame)
        if step is not None and step != want:
            each = ", ".join(
                f"{Path(spec.csv[s]).name} {timeframe(step_ms(f) or 0)}" for s, f in frames.items()
            )
            raise DataError(
                f'{spec.path}: arena.csv."{sym}": the files have different timeframes '
                f"({each}); give candles of one timeframe"
            )


def decision_times(spec: ArenaSpec, frames: dict[str, pd.DataFrame]) -> np.ndarray[Any, Any]:
    """The closes at which every contestant samples its equity: where every symbol has a bar
    in the range (as engine/backtest/botrun.py ``run_bot`` walks them)."""
    import numpy as np  # noqa: PLC0415

    from oxbot.app.backtests import timeframe_ms  # noqa: PLC0415

    stamps = [frames[s]["ts"].to_numpy(np.int64) for s in spec.symbols]
    if any(len(t) == 0 for t in stamps):
        raise DataError("no candles for some symbol of the arena")
    lo = max(int(t[0]) for t in stamps)
    hi = min(int(t[-1]) for t in stamps)
    if spec.since_ms is not None:
        lo = max(lo, spec.since_ms)
    last = hi if spec.until_ms is None else min(hi, spec.until_ms - 1)
    common = stamps[0]
    for t in stamps[1:]:
        common = np.intersect1d(common, t)
    common = common[(common >= lo) & (common <= last)]
    if len(common) == 0:
        from oxbot.app.backtests import utc  # noqa: PLC0415

        each = "; ".join(
            f"{s} {utc(int(t[0]))} to {utc(int(t[-1]))} UTC"
            for s, t in zip(spec.symbols, stamps, strict=True)
        )
        raise DataError(
            "no candles in the arena's range (since/until) where every symbol has one "
            f"({each}); widen the range or give candles of one period"
        )
    return common + timeframe_ms(spec.timeframe)


# ---------------------------------------------------------------------------- estimate


def estimates(
    spec: ArenaSpec, frames: dict[str, pd.DataFrame], replies: Path | None = None
) -> list[tuple[str, Any]]:
    """(contestant, llm_backtest.Estimate) of each LLM contestant: calls, tokens and dollars
    before anything is called."""
    from oxbot.app import llm_backtest  # noqa: PLC0415

    return [
        (
            c.name,
            llm_backtest.estimate(c.config, frames, spec.since_ms, spec.until_ms, replies),
        )
        for c in spec.contestants
        if c.kind == "llm"
    ]


# ---------------------------------------------------------------------------- the run


class _Board:
    """The partial result, updated by the worker threads, reported one call at a time."""

    def __init__(
        self, result: ArenaResult, progress: Progress | None, n: int, cancel: threading.Event
    ) -> None:
        self.result = result
        self.progress = progress
        self.fractions = [0.0] * n
        self.lock = threading.Lock()
        self.cancel = cancel

    def tell(self) -> None:
        if self.progress is not None:
            self.progress(self.result)

    def moved(self, i: int, fraction: float) -> None:
        if self.cancel.is_set():
            raise Cancelled
        with self.lock:
            self.fractions[i] = fraction
            self.result.fraction = sum(self.fractions) / len(self.fractions)
            self.tell()

    def finished(
        self, i: int, row: ContestantResult, curve: EquitySeries | None, tally: Any
    ) -> None:
        with self.lock:
            self.fractions[i] = 1.0
            self.result.fraction = sum(self.fractions) / len(self.fractions)
            self.result.rows.append(row)
            if curve is not None:
                self.result.curves.append(curve)
            if tally is not None:
                self.result.calls_now += tally.calls
                self.result.spent_now += tally.spent
            self.result.done += 1
            self.tell()


def cutoff_notes(spec: ArenaSpec, start_ms: int) -> list[str]:
    """A warning per LLM contestant whose model's knowledge cut-off (engine/llm/cutoffs.py) lies
    after the arena's first candle: it may have seen the prices it is ranked on."""
    from oxbot.engine.llm.cutoffs import look_ahead  # noqa: PLC0415

    out = []
    for c in spec.contestants:
        if c.kind != "llm":
            continue
        line, warn = look_ahead(str(c.config.params.get("model", "")), start_ms)
        if warn:
            out.append(f"{c.name}: {line}")
    return out


def run_arena(
    spec: ArenaSpec,
    progress: Progress | None = None,
    options: ArenaOptions | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
) -> ArenaResult:
    """Run every contestant of ``spec`` and the baseline (blocking: a worker thread's or the
    CLI's). ``progress`` gets the partial result (rows of finished contestants, ``done``,
    ``fraction``) as it grows. DataError when the market has no candles in the range."""
    from oxbot.app.backtests import timeframe_ms  # noqa: PLC0415

    opts = options or ArenaOptions()
    if spec.market == "live":  # PAPER bots on an exchange's live candles: app/arena_live.py
        from oxbot.app.arena_live import run_live  # noqa: PLC0415

        return run_live(spec, progress, opts.cancel, opts.board_every_s, opts.paid)
    frames = load_frames(spec) if frames is None else frames
    times = decision_times(spec, frames)
    step = timeframe_ms(spec.timeframe)
    result = ArenaResult(
        title=spec.title,
        market=spec.market_label,
        symbols=list(spec.symbols),
        timeframe=spec.timeframe,
        first_ms=int(times[0]) - step,
        last_ms=int(times[-1]),
        start_cash=spec.capital,
        total=len(spec.contestants) + 1,
        notes=cutoff_notes(spec, int(times[0]) - step),
    )
    n = len(spec.contestants)
    cancel = opts.cancel or threading.Event()
    board = _Board(result, progress, n, cancel)
    base_row, base_curve = baseline(spec, frames, times)
    with board.lock:
        result.rows.append(base_row)
        result.curves.append(base_curve)
        result.done = 1
        board.tell()
    workers = opts.workers or min(os.cpu_count() or 1, max(1, n))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="arena") as pool:
        futures = [
            pool.submit(_run_one, i, c, spec, frames, opts, board)
            for i, c in enumerate(spec.contestants)
        ]
        try:
            for f in futures:
                f.result()  # a contestant's own failure is its row's error; bugs re-raise
        except KeyboardInterrupt:
            cancel.set()  # the running contestants stop at their next candle
            raise
    order = {c.name: i for i, c in enumerate(spec.contestants)}
    order[BASELINE_NAME] = n
    result.rows.sort(key=lambda r: order[r.name])
    result.curves.sort(key=lambda c: order[c.name])
    result.fraction = 1.0
    return result


def _run_one(
    i: int, c: Contestant, spec: ArenaSpec, frames: Any, opts: ArenaOptions, board: _Board
) -> None:
    tally = None
    try:
        if board.cancel.is_set():
            raise Cancelled
        if c.kind == "llm":
            outcome, tally = _run_llm(c, spec, frames, opts, lambda f: board.moved(i, f))
        else:
            outcome = _run_rule(c, spec, frames, lambda f: board.moved(i, f))
        row = _row(c, outcome)
        curve = EquitySeries(
            c.name,
            [int(t) for t in outcome.result.ts.tolist()],
            [float(x) for x in outcome.result.equity.tolist()],
        )
    except OxbotError as e:
        row, curve = _errored(c, spec, str(e)), None
    except Exception as e:  # noqa: BLE001 - a user strategy's bug, a full disk: this row's
        row, curve = _errored(c, spec, f"{type(e).__name__}: {e}"), None
    board.finished(i, row, curve, tally)


def _run_rule(c: Contestant, spec: ArenaSpec, frames: Any, progress: Any) -> Any:
    """A rule contestant: its strategy (built when the file was checked, again here: one per
    run) through the bot replay, and the bot backtest's metrics."""
    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.engine.backtest.botrun import run_bot  # noqa: PLC0415

    cfg = c.config
    with _BUILD:  # a user's strategy file may be (re)loaded: one thread at a time
        strat = backtests.strategy(cfg.strategy, cfg.params)
    result = run_bot(
        cfg, strat, frames, since_ms=spec.since_ms, until_ms=spec.until_ms, progress=progress
    )
    metrics = backtests.bot_metrics(result, cfg, frames, strat.params.model_dump(mode="json"))
    return backtests.BotOutcome(result, metrics)


_BUILD = threading.Lock()


def _run_llm(
    c: Contestant, spec: ArenaSpec, frames: Any, opts: ArenaOptions, progress: Any
) -> tuple[Any, Any]:
    from oxbot.app import backtests, llm_backtest  # noqa: PLC0415
    from oxbot.engine.backtest.replies import Tally  # noqa: PLC0415

    # free: a free provider, or an unpriced model on a local server (llm_backtest.is_free)
    free = llm_backtest.is_free(llm_backtest.llm_strategy(c.config, keys=False))
    llm = llm_backtest.LlmOptions(
        cache_only=opts.cache_only or not (opts.paid or free),
        replies=opts.replies,
        tally=Tally(),
    )
    bt = backtests.BotBacktest(c.config, {}, None, spec.since_ms, spec.until_ms)
    outcome = backtests.run_bot(bt, frames, progress=progress, llm=llm)
    stats = outcome.result.llm_stats
    points = outcome.result.llm_points
    if points and stats.get("failures", 0) >= points:
        why = stats.get("last_failure") or "no reply could be used"
        raise LlmFailed(f"every model call failed ({points:,} decision points): {why}")
    return outcome, llm.tally


class LlmFailed(OxbotError):
    """An LLM contestant none of whose decisions came from its model."""


def _row(c: Contestant, outcome: Any) -> ContestantResult:
    r, m = outcome.result, outcome.metrics
    fees = sum((s.fees for s in r.symbols.values()), Decimal(0))
    trades = sum(len(s.trades) for s in r.symbols.values())
    ret = float((r.final_equity / r.start_cash - 1) * 100)
    extra: dict[str, Any] = {}
    if c.kind == "llm":
        s = r.llm_stats
        cost = Decimal(s.get("cost_total", 0))
        extra = {
            "llm_calls": int(s.get("llm_calls", 0)),
            "tokens": int(s.get("tokens_in_total", 0)) + int(s.get("tokens_out_total", 0)),
            "llm_cost": cost,
            "failures": int(s.get("failures", 0)),
            "calls_saved": int(s.get("calls_saved", 0)),
            "return_per_dollar": ret / float(cost) if cost > 0 else None,
        }
    return ContestantResult(
        name=c.name,
        kind=c.kind,
        label=c.label,
        start_cash=r.start_cash,
        final_equity=r.final_equity,
        pnl=r.final_equity - r.start_cash,
        return_pct=ret,
        sharpe=m.get("sharpe"),
        max_drawdown_pct=float(m.get("max_drawdown_pct") or 0.0),
        win_rate_pct=m.get("win_rate"),
        trades=trades,
        fees=fees,
        **extra,
    )


def _errored(c: Contestant, spec: ArenaSpec, why: str) -> ContestantResult:
    return ContestantResult.empty(c.name, c.kind, c.label, spec.capital, error=why)


# ---------------------------------------------------------------------------- the baseline


def baseline(
    spec: ArenaSpec, frames: dict[str, pd.DataFrame], times: np.ndarray[Any, Any]
) -> tuple[ContestantResult, EquitySeries]:
    """Buy and hold with the same capital and fees: app/backtests.py ``baseline`` (the cash
    split equally, bought at the first traded candle's open, sold at the last one's close
    through the paper broker) gives its final equity; its curve is marked at each decision
    time's close. Its Sharpe needs MIN_PERIODS returns but not MIN_TRADES trades (one round
    trip per symbol by construction)."""
    import numpy as np  # noqa: PLC0415

    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.engine.backtest.metrics import (  # noqa: PLC0415
        MIN_PERIODS,
        bars_per_year,
        max_drawdown_pct,
        sharpe,
    )
    from oxbot.engine.models import OrderIntent, OrderReason, Side, to_decimal  # noqa: PLC0415
    from oxbot.engine.paper import PaperBroker  # noqa: PLC0415
    from oxbot.engine.risk import QTY_STEP, floor_to  # noqa: PLC0415

    step = backtests.timeframe_ms(spec.timeframe)
    first, last = int(times[0]) - step, int(times[-1]) - step
    cash, fee, slip = spec.capital, spec.fee_rate, spec.slippage_bps
    total, parts = backtests.baseline(frames, spec.symbols, cash, fee, slip, first, last)
    broker = PaperBroker(fee, slip)
    part = cash / len(spec.symbols)
    curve = np.zeros(len(times), dtype=np.float64)
    fees = Decimal(0)
    for sym in spec.symbols:
        f = frames[sym]
        rows = f[(f["ts"] >= first) & (f["ts"] <= last)]
        buy_px = to_decimal(float(rows["open"].iloc[0]))
        sell_px = to_decimal(float(rows["close"].iloc[-1]))
        qty = floor_to(part / (buy_px * (1 + slip / 10_000) * (1 + fee)), QTY_STEP)
        buy = broker.fill(
            OrderIntent("hold", sym, Side.BUY, qty, OrderReason.ENTRY, "b"), buy_px, 0
        )
        sell = broker.fill(
            OrderIntent("hold", sym, Side.SELL, qty, OrderReason.EXIT, "s"), sell_px, 0
        )
        fees += buy.fee + sell.fee
        left = float(part - buy.qty * buy.price - buy.fee)
        close = dict(
            zip(rows["ts"].to_numpy(np.int64).tolist(), rows["close"].tolist(), strict=True)
        )
        curve += np.asarray([left + float(qty) * close[int(t) - step] for t in times])
    curve[-1] = float(total)  # sold at the last close, after its fee
    periods = len(curve) - 1
    wins = sum(1 for s in spec.symbols if parts[s] > part)
    row = ContestantResult(
        name=BASELINE_NAME,
        kind="baseline",
        label="buy & hold",
        start_cash=cash,
        final_equity=total,
        pnl=total - cash,
        return_pct=float((total / cash - 1) * 100),
        sharpe=sharpe(curve, bars_per_year(step)) if periods >= MIN_PERIODS else None,
        max_drawdown_pct=max_drawdown_pct(curve),
        win_rate_pct=wins / len(spec.symbols) * 100,
        trades=len(spec.symbols),
        fees=fees,
    )
    return row, EquitySeries(BASELINE_NAME, [int(t) for t in times.tolist()], curve.tolist())


def utc_range(result: ArenaResult) -> str:
    """``2024-01-01 00:00 to 2024-03-24 08:00 UTC``: the arena's period."""

    def fmt(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

    return f"{fmt(result.first_ms)} to {fmt(result.last_ms)} UTC"
