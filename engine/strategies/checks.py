"""What `oxbot strategies check` (and a strategy's own test) runs: the strategy over generated
candles, its output's shape, and look-ahead: signals computed on a frame cut at row k must equal
the whole frame's signals at the same rows, since live trading only ever has the rows so far."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..arrays import Signals
from ..errors import OxbotError, StrategyError
from ..market.indicators import compute
from .base import Strategy, StrategyParams
from .loader import cancelled, where_failed

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np


def generated_candles(n: int = 600, seed: int = 7, kind: str = "cycles") -> pd.DataFrame:
    """Hourly candles: a random walk with cycles (``kind`` "cycles"), a steady climb with dips
    ("trend") or a price pulled back to its mean ("reverting"), so crosses, bands and RSI
    extremes happen."""
    rng = np.random.default_rng(seed)
    if kind == "reverting":
        x = np.zeros(n)
        noise = rng.normal(0, 0.012, n)
        for i in range(1, n):
            x[i] = 0.9 * x[i - 1] + noise[i]
        close = 100 * np.exp(x)
    else:
        drift = 0.002 if kind == "trend" else 0.0
        steps = rng.normal(drift, 0.01, n) + 0.02 * np.sin(np.arange(n) * 2 * np.pi / 48) / 10
        close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    import pandas as pd  # noqa: PLC0415 - on first use, not on import

    return pd.DataFrame(
        {
            "ts": 1_704_067_200_000 + np.arange(n, dtype=np.int64) * 3_600_000,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 100, n),
        }
    )


# The series `check_strategy` runs a strategy over: a trend, a mean-reverting price, and one
# longer than 1,000 rows (a strategy may behave differently on long histories only).
SERIES = (("trend", 600, 7), ("reverting", 600, 8), ("cycles", 1500, 9))
CUTS = 300  # cut points per series at most; see `cut_points`


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def cut_points(start: int, n: int, most: int = CUTS) -> list[int]:
    """Frame lengths to cut at, from ``start`` to ``n``: every one when there are at most
    ``most``; else every one of the last 60 and the first 30 (where look-ahead and warm-up
    show) and every k-th between them. Each cut costs a few ``signals`` calls (~1 ms of
    pandas each), so every row of 2,700 rows would take ~10 s; this keeps `check` at ~1-2 s
    per strategy."""
    if n - start + 1 <= most:
        return list(range(start, n + 1))
    head, tail = start + 30, n - 60
    k = max(1, -(-(tail - head) // (most - 90)))
    return sorted({*range(start, head), *range(head, tail, k), *range(tail, n + 1)})


def check_strategy(
    cls: type[Strategy], params: StrategyParams | None = None, n: int | None = None
) -> CheckReport:
    """Run ``cls`` over the SERIES (or one cycles series of ``n`` rows) and report: signals
    that break the contract (`checked_signals`), look-ahead (signals of a frame cut at any row
    differ from the whole frame's at the same rows), ``signal(view)`` disagreeing with
    ``signals(frame)``, and signals that need more history than the live window gives."""
    from ..market.window import MAX_WINDOW, bars_needed  # noqa: PLC0415

    report = CheckReport()
    source = Path(inspect.getsourcefile(cls) or "?")
    try:
        with user_code(cls):
            strat = cls(params)
            warm = strat.warmup()
            need = bars_needed(strat)
    except StrategyError as e:
        report.errors.append(f"setup failed: {e}")
        return report
    if need > MAX_WINDOW:
        report.errors.append(
            f"warmup() is {warm} bars: live market data keeps at most {MAX_WINDOW}, so no bot "
            "can run this strategy with these parameters (and a backtest needs more than "
            f"{warm} candles); use shorter lengths"
        )
        return report
    series = SERIES if n is None else (("cycles", n, 7),)
    if n is None and warm + CUTS > max(r for _, r, _ in series):
        # the usual series are too short to check anything after this warm-up
        series = (*series, ("cycles", warm + 2 * CUTS, 9))
    enters = exits = 0
    checked: list[tuple[str, int]] = []
    warned = False
    for kind, rows, seed in series:
        if rows <= warm + 1:
            report.notes.append(
                f"the {rows} {kind} candles are within the warm-up of {warm}: not checked"
            )
            continue
        candles = generated_candles(rows, seed, kind)
        try:
            full = compute(candles, strat.indicators())
            sig = run_signals(strat, full.copy())
            problem = _look_ahead(strat, full, sig, kind)
        except StrategyError as e:
            report.errors.append(f"signals failed: {e}")
            return report
        except Exception as e:  # noqa: BLE001 - the user's code may raise anything
            report.errors.append(f"signals failed: {where_failed(e, source)}")
            return report
        if problem:
            report.errors.append(problem)
            return report
        early = np.flatnonzero(sig[: max(0, warm - 1)])
        if early.size and not warned:
            row = int(early[0])
            warned = True
            report.notes.append(
                f"warning: signals gives {int(sig[row])} at row {row} on the {kind} candles, "
                f"before its warm-up of {warm} bars ends (row {warm - 1}): a live bot does not "
                "act there; if the signal needs more history, declare that warmup()"
            )
        enters += int((sig == 1).sum())
        exits += int((sig == -1).sum())
        checked.append((kind, rows))
    if not checked:
        report.errors.append(f"warmup() is {warm} bars: longer than every series checked")
        return report
    try:
        why = strat.explain(full, int(sig[-1]))
        if not isinstance(why, str):
            report.errors.append(f"explain must return a str, got {type(why).__name__}")
    except Exception as e:  # noqa: BLE001
        report.errors.append(f"explain failed: {where_failed(e, source)}")
    total = sum(r for _, r in checked)
    report.notes.append(
        f"{total} generated candles ({', '.join(k for k, _ in checked)}): "
        f"{enters} enter and {exits} exit signals"
    )
    if enters == 0:
        report.notes.append("no ENTER signal at all on these candles: check the conditions")
    return report


def _look_ahead(strat: Strategy, full: pd.DataFrame, sig: Signals, kind: str) -> str:
    """What is wrong with ``strat`` over ``full`` (whose signals are ``sig``), "" if nothing.
    Indicator columns come from the whole frame (the library's indicators read no later
    rows), so each cut costs one ``signals`` call, not a recompute."""
    from ..market.view import FrameView  # noqa: PLC0415
    from ..market.window import bars_needed  # noqa: PLC0415

    n = len(full)
    full = full.copy()  # one block per dtype: the cuts' copies below are cheap
    window = bars_needed(strat)
    where = f"on the {kind} candles"
    for cut in cut_points(min(strat.warmup() + 1, n), n):
        part = run_signals(strat, full.iloc[:cut].copy())
        bad = np.flatnonzero(part != sig[:cut])
        if bad.size:
            row = int(bad[0])
            return (
                f"look-ahead {where}: row {row}'s signal is {int(sig[row])} over the whole "
                f"history but {int(part[row])} when the frame ends at row {cut - 1}: signals "
                "reads rows after the one it decides (shift(-1), centered windows, whole-column "
                "statistics, the frame's length?)"
            )
        row = cut - 1
        lo = max(0, cut - window)
        if lo > 0:
            last = run_signals(strat, full.iloc[lo:cut].copy())[-1]
            if last != sig[row]:
                return (
                    f"signals at row {row} {where} give {int(last)} when only the last "
                    f"{window} rows are given, {int(sig[row])} over the whole history: live "
                    "trading gives a strategy a window of its warm-up (at least "
                    f"{window} rows), so declare a longer warmup() (or compute from the "
                    "indicators, not from the whole frame: cummax, ewm, expanding)"
                )
        view = FrameView(full.iloc[lo:cut].copy())
        with user_code(strat):
            live = strat.signal(view)
        if live != sig[row]:
            return (
                f"signal(view) gives {live} at row {row} {where}, signals(frame) gives "
                f"{int(sig[row])}: signal must decide what signals decides at the newest row"
            )
    return ""


# --- the one check every path applies to what signals() returned ------------------------------


def signals_source(strategy: object) -> str:
    """``file:line`` of the strategy's ``signals`` method (its class when that fails)."""
    fn = getattr(type(strategy), "signals", None)
    try:
        target = inspect.unwrap(fn) if fn is not None else type(strategy)
        file = inspect.getsourcefile(target) or "?"
        line = inspect.getsourcelines(target)[1]
        return f"{file}:{line}"
    except (OSError, TypeError):
        return f"strategy {getattr(strategy, 'name', type(strategy).__name__)}"


def checked_signals(strategy: object, raw: object, n: int) -> Signals:
    """``raw`` (what ``strategy.signals`` returned for a frame of ``n`` rows) as int8 -1/0/1,
    or StrategyError naming the strategy's ``signals`` file:line and what is wrong: a wrong
    length, NaN, non-integral numbers, values other than -1, 0 and 1, or no numbers at all.
    Converting without this check made one missing value a one-bar look-ahead, 257 a 1 and
    NaN or 0.9 a 0."""

    def refuse(what: str) -> StrategyError:
        return StrategyError(f"{signals_source(strategy)}: signals {what}")

    try:
        arr = np.asarray(raw)
    except Exception as e:  # noqa: BLE001 - any object may come back
        raise refuse(f"returned {type(raw).__name__} ({e}), not one number per row") from None
    if arr.ndim != 1:
        got = f"{raw!r}"[:40] if arr.ndim == 0 else f"an array of shape {arr.shape}"
        raise refuse(f"returned {got} for {n} rows; it must return one value per row")
    if len(arr) != n:
        raise refuse(f"returned {len(arr)} values for {n} rows; it must return one per row")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            bad = next((v for v in arr if not isinstance(v, int | float | np.number)), None)
            raise refuse(
                f"returned {type(bad).__name__} values ({bad!r}); return ENTER (1), EXIT (-1) "
                "or NONE (0) per row"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise refuse(
            f"returned {arr.dtype} values; return ENTER (1), EXIT (-1) or NONE (0) per row"
        )
    if arr.dtype.kind == "f":
        nan = np.flatnonzero(np.isnan(arr))
        if nan.size:
            raise refuse(
                f"returned NaN at row {int(nan[0])} ({nan.size} rows); return NONE (0) "
                "where there is no signal (e.g. during the warm-up)"
            )
        frac = np.flatnonzero(arr != np.round(arr))
        if frac.size:
            row = int(frac[0])
            raise refuse(
                f"returned {arr[row].item()!r} at row {row}; signals must be whole numbers: "
                "ENTER (1), EXIT (-1) or NONE (0)"
            )
    if arr.dtype.kind != "b":
        out = np.flatnonzero((arr < -1) | (arr > 1))
        if out.size:
            row = int(out[0])
            raise refuse(
                f"returned {arr[row].item()!r} at row {row}; signals must be ENTER (1), EXIT (-1) "
                "or NONE (0) only"
            )
    return arr.astype(np.int8)


@contextmanager
def user_code(strategy: object) -> Iterator[None]:
    """An exception raised in the file of ``strategy`` (an instance or its class: its signals,
    indicators, warmup, Params validators) becomes StrategyError ``file:line: Error: text``;
    one raised elsewhere is left alone. A SystemExit (any BaseException but a Ctrl-C or a
    cancellation) raised there, e.g. by a Params validator, is named the same way."""
    try:
        yield
    except (OxbotError, ValidationError):  # oxbot's own messages, pydantic's field errors
        raise
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:
        where = _user_frame(strategy, e)
        if where is None or cancelled(e):
            raise
        raise StrategyError(f"{where}: {type(e).__name__}: {e}") from None


def _user_frame(strategy: object, e: BaseException) -> str | None:
    cls = strategy if isinstance(strategy, type) else type(strategy)
    try:
        src = inspect.getsourcefile(cls)
    except (OSError, TypeError):
        return None
    if src is None:
        return None
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == src]
    return f"{src}:{frames[-1].lineno}" if frames else None


def check_setup(strategy: Strategy) -> None:
    """Build what running ``strategy`` needs first -- its indicators (each a known one) and its
    warm-up -- as a backtest does; StrategyError ``file:line: Error: text`` when its code
    raises there. A bot is refused (and a stored one shown in error) with that line, instead of
    being accepted and failing with a traceback when the engine starts it."""
    with user_code(strategy):
        for spec in strategy.indicators():
            spec.columns  # noqa: B018 - raises for an unknown indicator
        strategy.warmup()


def run_signals(strategy: Strategy, frame: pd.DataFrame) -> Signals:
    """``strategy.signals(frame)``, checked (`checked_signals`), its exceptions named
    (`user_code`)."""
    with user_code(strategy):
        raw = strategy.signals(frame)
    return checked_signals(strategy, raw, len(frame))
