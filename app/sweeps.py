"""Sweeps and searches over a strategy's parameters, on every core: a grid (`--sweep`) or an
optuna TPE search (`--search N`), each parameter set backtested on the search window and scored
on a held-out window it never saw (`--holdout`), or walk-forward folds (`--walk-forward K`).

The evaluation is one function, ``Evaluator.evaluate(params, window) -> metrics``, built in each
worker process from a picklable recipe (``EvaluatorSource.load()``): `CandleSource` is one CSV
and one symbol through app.backtests; a multi-symbol bot backtest plugs in with its own source.
The pure pieces (specs, splits, ranking, the result type) are oxbot.engine.backtest.sweep.
Light at import: pandas, optuna and the pool load inside the functions.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from oxbot.engine.backtest.sweep import (
    Axis,
    Fold,
    SweepResult,
    SweepRow,
    Window,
    check_combos,
    combine,
    grid,
    holdout_split,
    objective_value,
    rank,
    summary,
    walk_forward,
)

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# progress(done, total): evaluations finished out of those planned.
SweepProgress = Callable[[int, int], None]
# Trials asked of the search at once: fixed, so --seed gives the same trials on any --jobs.
SEARCH_BATCH = 8


class Evaluator(Protocol):
    """Backtests parameter sets over windows of one candle range."""

    @property
    def bars(self) -> int: ...

    def ts(self, index: int) -> int:
        """The time (ms UTC) of candle ``index``."""
        ...

    def evaluate(self, params: Mapping[str, Any], window: Window) -> dict[str, Any]:
        """The metrics (app.backtests.json_metrics) of ``params`` over ``window``."""
        ...


class EvaluatorSource(Protocol):
    """A picklable recipe for an Evaluator: sent once to each worker process."""

    strategy: str

    def load(self) -> Evaluator: ...


@dataclass(frozen=True)
class CandleSource:
    """One CSV of candles, one symbol: the same settings as `oxbot backtest`."""

    path: str
    strategy: str
    symbol: str
    cash: Decimal
    fee_rate: Decimal
    slippage_bps: Decimal
    use_risk: bool
    fixed: dict[str, Any] = field(default_factory=dict)  # --param values, held constant
    since_ms: int | None = None
    until_ms: int | None = None

    def load(self) -> CandleEvaluator:
        from oxbot.app.backtests import between, load_candles  # noqa: PLC0415

        return CandleEvaluator(between(load_candles(self.path), self.since_ms, self.until_ms), self)


class CandleEvaluator:
    """Backtests of one strategy over windows of one candle frame (each window starts flat with
    the starting cash; the strategy's warm-up is spent inside it)."""

    def __init__(self, frame: Any, source: CandleSource) -> None:
        self.frame = frame
        self.source = source
        self._ts = frame["ts"].to_numpy()

    @property
    def bars(self) -> int:
        return len(self.frame)

    def ts(self, index: int) -> int:
        return int(self._ts[index])

    def evaluate(self, params: Mapping[str, Any], window: Window) -> dict[str, Any]:
        from oxbot.app.backtests import Backtest, run  # noqa: PLC0415
        from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

        s = self.source
        spec = Backtest(
            build_strategy(s.strategy, {**s.fixed, **params}),
            source=s.path,
            symbol=s.symbol,
            cash=s.cash,
            fee_rate=s.fee_rate,
            slippage_bps=s.slippage_bps,
            use_risk=s.use_risk,
        )
        part = self.frame.iloc[window.start : window.stop].reset_index(drop=True)
        return run(part, spec).metrics


@dataclass(frozen=True)
class BotSource:
    """A stored bot as configured (`oxbot backtest --bot NAME --sweep ...`): its symbols with
    one shared cash balance, its limits, fee and slippage (engine/backtest/botrun.py); the
    swept values replace its params, the others stay as stored. ``csv``: symbol -> file, else
    the candle cache; ``cash`` None: the bot's capital."""

    config: Any  # engine.models.BotConfig (pydantic: pickles to the workers)
    csv: dict[str, str]
    cash: Decimal | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def strategy(self) -> str:
        return str(self.config.strategy)

    @property
    def path(self) -> str:  # the result's ``source``
        return f"bot {self.config.name}"

    @property
    def symbol(self) -> str:
        return ", ".join(self.config.symbols)

    def load(self) -> BotEvaluator:
        from oxbot.app.backtests import BotBacktest, bot_frames  # noqa: PLC0415

        frames = bot_frames(BotBacktest(self.config, self.csv, self.cash))
        return BotEvaluator(frames, self)


class BotEvaluator:
    """Bot backtests over windows of the closes every symbol has (the period a bot backtest
    trades). Each window starts flat with the starting cash; the candles before it warm the
    indicators up, as a live stream's history does."""

    def __init__(self, frames: dict[str, Any], source: BotSource) -> None:
        import numpy as np  # noqa: PLC0415

        self.frames = frames
        self.source = source
        common = None
        for frame in frames.values():
            ts = frame["ts"].to_numpy()
            common = ts if common is None else np.intersect1d(common, ts)
        assert common is not None
        if source.since_ms is not None:
            common = common[common >= source.since_ms]
        if source.until_ms is not None:
            common = common[common < source.until_ms]
        self._ts = common

    @property
    def bars(self) -> int:
        return len(self._ts)

    def ts(self, index: int) -> int:
        return int(self._ts[index])

    def evaluate(self, params: Mapping[str, Any], window: Window) -> dict[str, Any]:
        from oxbot.app.backtests import BotBacktest, run_bot  # noqa: PLC0415

        s = self.source
        config = s.config.model_copy(update={"params": {**s.config.params, **params}})
        until = self.ts(window.stop) if window.stop < self.bars else s.until_ms
        spec = BotBacktest(config, s.csv, s.cash, self.ts(window.start), until)
        return run_bot(spec, frames=self.frames).metrics


# --- the worker processes ---------------------------------------------------------------------

_WORKER: Evaluator | None = None
Task = tuple[dict[str, Any], tuple[Window, ...]]


def _init_worker(source: EvaluatorSource) -> None:
    """Each worker: the user's strategies registered, the candles loaded once. Ctrl+C is the
    parent's to handle (it stops the pool); the workers ignore it rather than each printing
    a traceback."""
    global _WORKER
    import signal  # noqa: PLC0415

    from oxbot.app.strategies import load_user_strategies_for  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    load_user_strategies_for(source.strategy)
    _WORKER = source.load()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while the pool may start a worker: the worker inherits
    the mask, so a Ctrl+C while it is still starting Python and importing (before
    `_init_worker` ignores SIGINT) cannot raise KeyboardInterrupt there and print its
    traceback (adv13 A4). A Ctrl+C meanwhile is held, not lost: it reaches this process
    when the mask is restored, and the parent stops the pool."""
    import signal  # noqa: PLC0415

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _run_task(task: Task) -> list[dict[str, Any]] | str:
    assert _WORKER is not None
    return _evaluate(_WORKER, task)


def _evaluate(ev: Evaluator, task: Task) -> list[dict[str, Any]] | str:
    """The task's summaries, or the error of the strategy's code (StrategyError: its file:line,
    the exception) when its run raised: that set fails, the sweep goes on."""
    from oxbot.engine.errors import StrategyError  # noqa: PLC0415

    params, windows = task
    try:
        return [summary(ev.evaluate(params, w)) for w in windows]
    except StrategyError as e:
        return str(e)


class Runner:
    """Runs tasks (params, windows) on ``jobs`` processes: this one and ``jobs - 1`` spawned
    workers. This process works too, taking the next task whenever it is free: a worker first
    starts Python and imports pandas and pandas-ta (over a second of CPU each), which a
    sweep of a hundred sets does not win back many times over."""

    def __init__(
        self,
        source: EvaluatorSource,
        jobs: int,
        progress: SweepProgress,
        local: Evaluator | None = None,
    ) -> None:
        # the range's size and times, and the evaluations this process runs
        self.local = local if local is not None else source.load()
        self.workers = jobs - 1
        self.progress = progress
        self.done = 0
        self.total = 0
        self._failed: dict[str, str] = {}  # parameter set -> the error its run raised
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 0:
            import multiprocessing  # noqa: PLC0415
            from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(source,),
            )

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def plan(self, more: int) -> None:
        """Add ``more`` evaluations to the total the progress shows."""
        self.total += more
        self.progress(self.done, self.total)

    def map(self, tasks: Sequence[Task]) -> list[list[dict[str, Any]] | None]:
        """Each task's summaries, in task order (None for a task whose run raised: counted in
        ``failed``); the progress ticks per finished task. At most two tasks per worker wait
        in the pool, so the tasks share out evenly between the workers and this process."""
        out: list[list[dict[str, Any]] | str | None] = [None] * len(tasks)
        if self._pool is None:
            for i, task in enumerate(tasks):
                out[i] = self._here(task)
            return self._results(tasks, out)
        from concurrent.futures import FIRST_COMPLETED, wait  # noqa: PLC0415

        pending: dict[Any, int] = {}
        nxt = 0
        while nxt < len(tasks) or pending:
            while nxt < len(tasks) and len(pending) < 2 * self.workers:
                with _sigint_blocked():  # a submit may start a worker process
                    pending[self._pool.submit(_run_task, tasks[nxt])] = nxt
                nxt += 1
            if nxt < len(tasks):
                out[nxt] = self._here(tasks[nxt])
                nxt += 1
                finished = [f for f in pending if f.done()]
            else:
                finished = list(wait(pending, return_when=FIRST_COMPLETED)[0])
            for fut in finished:
                out[pending.pop(fut)] = fut.result()
                self._tick()
        return self._results(tasks, out)

    @property
    def failed(self) -> dict[str, int]:
        """Error -> how many parameter sets failed with it (a set failing in several folds
        counts once)."""
        return dict(Counter(self._failed.values()))

    def _results(
        self, tasks: Sequence[Task], out: Sequence[list[dict[str, Any]] | str | None]
    ) -> list[list[dict[str, Any]] | None]:
        for (params, _), r in zip(tasks, out, strict=True):
            if isinstance(r, str):
                self._failed.setdefault(repr(sorted(params.items())), r)
        return [r if isinstance(r, list) else None for r in out]

    def _here(self, task: Task) -> list[dict[str, Any]] | str:
        res = _evaluate(self.local, task)
        self._tick()
        return res

    def _tick(self) -> None:
        self.done += 1
        self.progress(self.done, self.total)


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """What to sweep: ``axes`` (a grid of values, or for a search its ranges), ``search``
    trials (None: the grid), and the held-out period: ``holdout`` (a fraction, text as the user
    gave it) or ``folds`` (walk-forward)."""

    strategy: str
    objective: str
    axes: list[Axis]
    fixed: dict[str, Any] = field(default_factory=dict)
    search: int | None = None
    seed: int | None = None
    holdout: Decimal | None = None
    holdout_text: str | None = None
    folds: int | None = None


def run_sweep(
    plan: Plan,
    source: EvaluatorSource,
    jobs: int,
    progress: SweepProgress | None = None,
    local: Evaluator | None = None,
) -> SweepResult:
    """Run ``plan`` over ``source``'s candles on ``jobs`` processes (``local``: the source
    already loaded in this process, to skip loading it again). UsageError (a SweepSpecError)
    when the range cannot be split or no combination can run."""
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    cls = strategy_class(plan.strategy)
    seed = plan.seed
    if plan.search is not None and seed is None:
        seed = secrets.randbelow(2**31)  # recorded in the result, so the run can be repeated
    with Runner(source, jobs, progress or (lambda _d, _t: None), local) as runner:
        ev = runner.local
        n = ev.bars
        if plan.folds is not None:
            splits = walk_forward(n, plan.folds)
        else:
            splits = [holdout_split(n, plan.holdout or Decimal("0.3"))]
        shortest = min(min(len(tr), len(te)) for tr, te in splits)
        result = SweepResult(
            strategy=plan.strategy,
            objective=plan.objective,
            mode="grid" if plan.search is None else "search",
            param_names=[a.name for a in plan.axes],
            ranges={a.name: a.as_range() for a in plan.axes},
            rows=[],
            total=0,
            fixed=dict(plan.fixed),
            holdout=plan.holdout_text if plan.folds is None else None,
            seed=seed,
            source=getattr(source, "path", ""),
            symbol=getattr(source, "symbol", ""),
            first_ts=ev.ts(0),
            last_ts=ev.ts(n - 1),
        )
        skipped: Counter[str] = Counter()
        if plan.search is None:
            combos, skipped = check_combos(cls, plan.fixed, grid(plan.axes), shortest)
            result.total = len(combos) + sum(skipped.values())
            _no_combination(combos, skipped, result.total)
            runs = len(combos) if plan.folds is None else (len(combos) + 1) * len(splits)
            runner.plan(runs)
            searched = _grid(runner, combos, splits, plan.folds is None)
        else:
            assert seed is not None
            result.total = plan.search * len(splits)  # each fold searches afresh
            runner.plan(result.total + (0 if plan.folds is None else len(splits)))
            searched = []
            for k, split in enumerate(splits):
                rows, fold_skipped, repeats = _search(
                    runner, cls, plan, split, shortest, seed + k, plan.folds is None
                )
                searched.append(rows)
                skipped += fold_skipped
                result.repeats += repeats
        result.skipped = dict(skipped)
        if plan.folds is None:
            result.failed = runner.failed
            result.rows = rank(searched[0], plan.objective)
            result.split_ts = ev.ts(splits[0][1].start)
        else:
            _folds(runner, result, searched, splits, plan.objective)
            result.failed = runner.failed
    if not result.rows and result.failed:  # nothing ran: the strategy's error is the answer
        from oxbot.engine.backtest.sweep import skipped_text  # noqa: PLC0415
        from oxbot.engine.errors import StrategyError  # noqa: PLC0415

        noun = "combinations" if plan.search is None else "trials"
        raise StrategyError(skipped_text(result.failed, result.total, noun, "failed"))
    return result


def _no_combination(
    combos: Sequence[Any], skipped: Mapping[str, int], total: int, noun: str = "combinations"
) -> None:
    from oxbot.engine.backtest.sweep import SweepSpecError, skipped_text  # noqa: PLC0415

    if not combos:
        raise SweepSpecError(
            f"no parameter set can run: {skipped_text(skipped, total, noun)}; "
            "change the ranges (--sweep) or the fixed values (--param)"
        )


def _grid(
    runner: Runner,
    combos: list[dict[str, Any]],
    splits: list[tuple[Window, Window]],
    held_out_too: bool,
) -> list[list[SweepRow]]:
    """Per split, every combo on its train window (and, for --holdout, on the held-out one)."""
    if held_out_too:
        train, test = splits[0]
        results = runner.map([(c, (train, test)) for c in combos])
        return [
            [SweepRow(c, r[0], r[1]) for c, r in zip(combos, results, strict=True) if r is not None]
        ]
    tasks = [(c, (train,)) for train, _ in splits for c in combos]
    results = runner.map(tasks)
    per = len(combos)
    return [
        [
            SweepRow(c, r[0])
            for c, r in zip(combos, results[k * per : (k + 1) * per], strict=True)
            if r is not None
        ]
        for k in range(len(splits))
    ]


def _folds(
    runner: Runner,
    result: SweepResult,
    searched: list[list[SweepRow]],
    splits: list[tuple[Window, Window]],
    objective: str,
) -> None:
    """Each fold's best on its train window, scored on the window after it."""
    ev = runner.local
    bests = [rank(rows, objective)[0] if rows else None for rows in searched]
    tasks = [(b.params, (te,)) for b, (_, te) in zip(bests, splits, strict=True) if b is not None]
    held = iter(runner.map(tasks))
    for k, (best, (tr, te)) in enumerate(zip(bests, splits, strict=True)):
        if best is not None:
            scored = next(held)
            best.held_out, best.fold = (scored[0] if scored is not None else None), k
            result.rows.append(best)
        result.folds.append(
            Fold(
                k,
                tr,
                te,
                (ev.ts(tr.start), ev.ts(tr.stop - 1)),
                (ev.ts(te.start), ev.ts(te.stop - 1)),
                best,
            )
        )
    outs = [r.held_out for r in result.rows if r.held_out is not None]
    result.combined = combine(outs, objective) if outs else None


def _search(
    runner: Runner,
    cls: Any,
    plan: Plan,
    split: tuple[Window, Window],
    shortest: int,
    seed: int,
    held_out_too: bool,
) -> tuple[list[SweepRow], Counter[str], int]:
    """``plan.search`` trials of optuna's TPE sampler (seeded) on the train window, asked
    SEARCH_BATCH at a time and run in parallel; the held-out window is never told to it."""
    import logging  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    import optuna  # noqa: PLC0415

    optuna.logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", module="optuna")
    assert plan.search is not None
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    train, test = split
    windows = (train, test) if held_out_too else (train,)
    rows: list[SweepRow] = []
    skipped: Counter[str] = Counter()
    # TPE re-suggests a set it has tried (integer parameters, once it converges): such a
    # trial is told the value already known and neither run again nor listed twice
    # (adv13 A13); ``repeats`` counts them.
    known: dict[tuple[tuple[str, Any], ...], float] = {}
    repeats = 0
    left = plan.search
    while left > 0:
        trials = [study.ask() for _ in range(min(SEARCH_BATCH, left))]
        left -= len(trials)
        asked = [{a.name: _suggest(t, a) for a in plan.axes} for t in trials]
        runnable = []
        later: list[tuple[Any, tuple[tuple[str, Any], ...]]] = []  # repeats within the batch
        batch: set[tuple[tuple[str, Any], ...]] = set()
        for trial, params in zip(trials, asked, strict=True):
            key = tuple(sorted(params.items()))
            if key in known or key in batch:
                repeats += 1
                runner.total -= 1  # never run: the bar counts runs
                if key in known:
                    study.tell(trial, known[key])
                else:
                    later.append((trial, key))
                continue
            ok, why = check_combos(cls, plan.fixed, [params], shortest)
            if ok:
                runnable.append((trial, params))
                batch.add(key)
            else:
                skipped.update(why)
                # told as the worst value, not as a failure: TPE then learns to leave the
                # region the schema refuses (fast >= slow), where a failure teaches it nothing
                study.tell(trial, -math.inf)
                known[key] = -math.inf
                runner.total -= 1  # never run: the bar counts runs
        results = runner.map([(p, windows) for _, p in runnable])
        for (trial, params), res in zip(runnable, results, strict=True):
            key = tuple(sorted(params.items()))
            if res is None:  # the strategy raised: counted in runner.failed
                study.tell(trial, -math.inf)
                known[key] = -math.inf
                continue
            value = objective_value(res[0], plan.objective)
            known[key] = -math.inf if value is None else value  # n/a: the worst
            study.tell(trial, known[key])
            rows.append(SweepRow(params, res[0], res[1] if held_out_too else None))
        for trial, key in later:
            study.tell(trial, known[key])
    _no_combination(rows, skipped, plan.search, "trials")
    return rows, skipped, repeats


def _suggest(trial: Any, axis: Axis) -> Any:
    if axis.values:
        return trial.suggest_categorical(axis.name, list(axis.values))
    assert axis.lo is not None and axis.hi is not None
    if axis.kind == "int":
        step = int(axis.step or 1)
        lo = int(axis.lo)
        hi = lo + (int(axis.hi) - lo) // step * step
        return trial.suggest_int(axis.name, lo, hi, step=step)
    if axis.step:
        hi = axis.lo + math.floor((axis.hi - axis.lo) / axis.step + 1e-9) * axis.step
        value = trial.suggest_float(axis.name, axis.lo, hi, step=axis.step)
        return float(f"{value:.12g}")  # 0.30000000000000004 → 0.3
    return trial.suggest_float(axis.name, axis.lo, axis.hi)
