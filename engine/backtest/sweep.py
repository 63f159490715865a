"""Parameter sweeps, the pure part: sweep specs read against the strategy's parameter schema,
the combinations a schema rejects counted by reason, the train / held-out split and walk-forward
folds as bar-index arithmetic, objective ranking (n/a always last) and the result type the CLI
prints, exports and the cockpit draws (`SweepResult`, JSON round-trip).

The processes, the search library and the backtests themselves live in oxbot.app.sweeps.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ..errors import UsageError
from ..strategies.base import Strategy, StrategyParams
from .metrics import MIN_TRADES

# --objective name -> the metrics key it ranks by (higher is better for every one of them).
OBJECTIVES = {
    "return": "return_pct",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "profit_factor": "profit_factor",
}
# Sharpe by default: risk-adjusted, annualised by the timeframe, and n/a (ranked last) below
# 10 closed trades, so a lucky handful of trades cannot top the table.
DEFAULT_OBJECTIVE = "sharpe"
# The metrics a sweep keeps per run (of app.backtests.json_metrics): enough for the table, the
# export and a heatmap, small enough for thousands of rows.
SUMMARY_KEYS = (
    "return_pct",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "max_drawdown_pct",
    "trades",
    "win_rate",
    "exposure_pct",
    "buy_hold_return_pct",
    "bars",
    "first_ts",
    "last_ts",
)
MAX_COMBINATIONS = 100_000
Value = int | float | str | bool


def summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The SUMMARY_KEYS of a backtest's metrics."""
    return {k: metrics.get(k) for k in SUMMARY_KEYS}


# --- the schema -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRange:
    """One parameter of a strategy's schema: its kind and its bounds (None: unbounded)."""

    name: str
    kind: str  # "int", "float" or "other"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # gt rather than ge
    hi_open: bool = False  # lt rather than le
    description: str = ""

    def contains(self, v: float) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))

    def text(self) -> str:
        """``2..500``, ``0<x<100``, ``>= 1`` or ``any``."""
        lo, hi = _num(self.lo), _num(self.hi)
        if self.lo is None and self.hi is None:
            return "any value"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {hi}"
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        if not self.lo_open and not self.hi_open:
            return f"{lo}..{hi}"
        return f"{lo} {'<' if self.lo_open else '<='} x {'<' if self.hi_open else '<='} {hi}"

    def bounded(self) -> bool:
        return self.kind in ("int", "float") and self.lo is not None and self.hi is not None


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def field_ranges(model: type[StrategyParams]) -> dict[str, FieldRange]:
    """Each field of a Params model with its kind and its Field(ge/gt/le/lt) bounds."""
    out: dict[str, FieldRange] = {}
    for name, info in model.model_fields.items():
        ann = info.annotation
        kind = "int" if ann is int else "float" if ann is float else "other"
        lo = hi = None
        lo_open = hi_open = False
        for m in info.metadata:
            for attr, is_lo, is_open in (("ge", 1, 0), ("gt", 1, 1), ("le", 0, 0), ("lt", 0, 1)):
                bound = getattr(m, attr, None)
                if isinstance(bound, int | float) and not isinstance(bound, bool):
                    if is_lo:
                        lo, lo_open = float(bound), bool(is_open)
                    else:
                        hi, hi_open = float(bound), bool(is_open)
        out[name] = FieldRange(name, kind, lo, hi, lo_open, hi_open, info.description or "")
    return out


def schema_text(ranges: Mapping[str, FieldRange]) -> str:
    """``fast (int, 2..500), slow (int, 3..2000)``."""
    return ", ".join(f"{r.name} ({r.kind}, {r.text()})" for r in ranges.values())


# --- sweep specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One ``--sweep`` parameter: a list of values (``a,b,c`` or a grid ``a:b:step``), or for
    a search a range ``a:b`` (``step`` None) or ``a:b:step``."""

    name: str
    values: tuple[Value, ...] = ()  # the grid or the list; empty for a bare range
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    kind: str = "int"

    def as_range(self) -> list[Value]:
        """What SweepResult.ranges records: the values, or [lo, hi] of a bare range."""
        if self.values:
            return list(self.values)
        return [_typed(self.lo, self.kind), _typed(self.hi, self.kind)]


def _typed(x: float | None, kind: str) -> Value:
    assert x is not None
    return int(x) if kind == "int" else x


class SweepSpecError(UsageError):
    """A --sweep / --holdout / --walk-forward value that cannot run; says the fix."""


def parse_sweep(text: str, ranges: Mapping[str, FieldRange], *, grid: bool = True) -> Axis:
    """``fast=5:30:5`` (inclusive), ``fast=5,10,20``; with ``grid=False`` also ``fast=5:30``
    (a range for the search). Ints for int fields, decimals for float fields. Every value is
    checked against the field's bounds; SweepSpecError names the parameter, its range and the
    fix."""
    name, sep, spec = (s.strip() for s in text.partition("="))
    example = "--sweep fast=5:30:5 (from:to:step, inclusive) or --sweep fast=5,10,20"
    if not sep or not name or not spec:
        raise SweepSpecError(f"--sweep {text!r} must look like NAME=VALUES, e.g. {example}")
    field_ = ranges.get(name)
    if field_ is None:
        raise SweepSpecError(
            f"--sweep {name}: the strategy has no parameter {name!r}; its parameters: "
            f"{schema_text(ranges)}"
        )
    where = f"--sweep {name}={spec}"
    if "," in spec or ":" not in spec:
        values = tuple(parse_value(p, field_, where) for p in spec.split(","))
        if len(set(values)) != len(values):
            raise SweepSpecError(f"{where}: a value is given twice; list each value once")
        return Axis(name, values, kind=field_.kind)
    if field_.kind == "other":
        raise SweepSpecError(
            f"{where}: {name} is not a number, so it has no from:to range; list its values, "
            f"e.g. --sweep {name}=a,b"
        )
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (grid and len(parts) == 2):
        need = "from:to:step" if grid else "from:to or from:to:step"
        raise SweepSpecError(f"{where}: give {need}, e.g. {example}")
    nums = [_decimal(p, field_, where) for p in parts]
    lo, hi = nums[0], nums[1]
    if lo > hi:
        raise SweepSpecError(f"{where}: from ({parts[0]}) is above to ({parts[1]}); swap them")
    for end in (lo, hi):
        _check_bounds(end, field_, where)
    step = nums[2] if len(nums) == 3 else None
    if step is not None and step <= 0:
        raise SweepSpecError(f"{where}: the step must be above 0, e.g. {name}={lo}:{hi}:1")
    if not grid:
        return Axis(
            name, (), float(lo), float(hi), None if step is None else float(step), field_.kind
        )
    assert step is not None
    count = int((hi - lo) / step) + 1
    if count > MAX_COMBINATIONS:
        raise SweepSpecError(f"{where} has {count:,} values; use a larger step")
    grid_values = tuple(_cast(lo + i * step, field_) for i in range(count))
    return Axis(name, grid_values, float(lo), float(hi), float(step), field_.kind)


def _decimal(text: str, f: FieldRange, where: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise SweepSpecError(f"{where}: {text.strip()!r} is not a number") from None
    if not d.is_finite():
        raise SweepSpecError(f"{where}: {text.strip()!r} is not a finite number")
    if f.kind == "int" and d != d.to_integral_value():
        raise SweepSpecError(
            f"{where}: {name_kind(f)} takes whole numbers; {text.strip()} is not one"
        )
    return d


def name_kind(f: FieldRange) -> str:
    return f"{f.name} ({f.kind}, {f.text()})"


def _check_bounds(d: Decimal, f: FieldRange, where: str) -> None:
    if not f.contains(float(d)):
        raise SweepSpecError(
            f"{where}: {d} is outside {f.name}'s range {f.text()}"
            + (f" ({f.description})" if f.description else "")
            + f"; give values within {f.text()}"
        )


def _cast(d: Decimal, f: FieldRange) -> Value:
    return int(d) if f.kind == "int" else float(d)


def parse_value(text: str, f: FieldRange, where: str) -> Value:
    """One value for field ``f``, typed and checked against its bounds."""
    text = text.strip()
    if not text:
        raise SweepSpecError(f"{where}: an empty value in the list; e.g. --sweep {f.name}=5,10")
    if f.kind == "other":
        return text  # the schema's own check (pydantic) coerces and validates it per combination
    d = _decimal(text, f, where)
    _check_bounds(d, f, where)
    return _cast(d, f)


def grid(axes: Sequence[Axis]) -> list[dict[str, Value]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_COMBINATIONS:
        raise SweepSpecError(
            f"the sweep has {total:,} combinations, more than {MAX_COMBINATIONS:,}; "
            "use larger steps or fewer parameters (or --search N)"
        )
    names = [a.name for a in axes]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def skip_reason(e: ValidationError) -> str:
    """A schema's refusal without the values, so refusals group: ``fast (10) must be shorter
    than slow (5)`` → ``fast must be shorter than slow``."""
    parts = []
    for err in e.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        msg = re.sub(r"\s*\([^)]*\)", "", msg).strip()
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


WARMUP_REASON = "the warm-up needs more bars than a window has"


def check_combos(
    cls: type[Strategy],
    fixed: Mapping[str, Any],
    combos: Iterable[Mapping[str, Value]],
    shortest: int,
) -> tuple[list[dict[str, Value]], Counter[str]]:
    """The combinations the schema accepts and whose warm-up fits in ``shortest`` bars (the
    shortest window any of them runs on), and the rest counted by reason."""
    ok: list[dict[str, Value]] = []
    skipped: Counter[str] = Counter()
    from ..errors import StrategyError  # noqa: PLC0415
    from ..strategies.checks import user_code  # noqa: PLC0415

    for combo in combos:
        try:
            with user_code(cls):  # the user's validators and warmup may raise
                params = cls.Params(**{**fixed, **combo})
                warmup = cls(params).warmup()
        except ValidationError as e:
            skipped[skip_reason(e)] += 1
            continue
        except StrategyError as e:  # counted with the reason, like a set the schema refuses
            skipped[str(e)] += 1
            continue
        if warmup + 1 > shortest:
            skipped[WARMUP_REASON] += 1
            continue
        ok.append(dict(combo))
    return ok, skipped


def skipped_text(
    skipped: Mapping[str, int], total: int, noun: str = "combinations", verb: str = "skipped"
) -> str:
    """``12 of 100 combinations skipped: fast must be shorter than slow``; "" when none.
    ``verb`` "failed" for the sets whose run raised (``SweepResult.failed``)."""
    n = sum(skipped.values())
    if not n:
        return ""
    why = "; ".join(
        f"{r}" if len(skipped) == 1 else f"{c} {r}"
        for r, c in sorted(skipped.items(), key=lambda kv: -kv[1])
    )
    return f"{n} of {total} {noun} {verb}: {why}"


# --- the held-out period ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Bars ``start`` (inclusive) to ``stop`` (exclusive) of the candle range."""

    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def parse_holdout(text: str) -> Decimal:
    """``30%`` or ``30`` → Decimal("0.3"); a percentage from 1 to 90."""
    raw = text.strip().removesuffix("%").strip()
    try:
        pct = Decimal(raw)
    except InvalidOperation:
        pct = Decimal("NaN")
    if not pct.is_finite() or not Decimal(1) <= pct <= Decimal(90):
        raise SweepSpecError(
            f"--holdout {text}: give the share of the range kept out of the search as a "
            "percentage from 1 to 90, e.g. --holdout 30%"
        )
    return pct / 100


def holdout_split(bars: int, fraction: Decimal) -> tuple[Window, Window]:
    """The first bars for the search, the last ``fraction`` (rounded down, at least one bar)
    held out; both windows non-empty, adjacent, covering all ``bars``."""
    held = max(1, int(bars * fraction))
    if bars < 2 or held >= bars:
        raise SweepSpecError(
            f"{bars} candles cannot be split into a search and a held-out period; give more"
        )
    return Window(0, bars - held), Window(bars - held, bars)


def walk_forward(bars: int, folds: int) -> list[tuple[Window, Window]]:
    """K folds over ``bars``: the range is cut into K+1 equal parts (the last one takes the
    remainder); fold k optimises on part k and is scored on part k+1, so the held-out windows
    follow their train windows, never overlap each other and together cover parts 1..K."""
    if folds < 1:
        raise SweepSpecError(f"--walk-forward {folds}: give 1 fold or more, e.g. 4")
    size = bars // (folds + 1)
    if size < 2:
        raise SweepSpecError(
            f"--walk-forward {folds}: {bars} candles make parts of {size} bar(s); "
            "give fewer folds or a longer range"
        )
    out = []
    for k in range(folds):
        stop = bars if k == folds - 1 else (k + 2) * size
        out.append((Window(k * size, (k + 1) * size), Window((k + 1) * size, stop)))
    return out


# --- ranking ----------------------------------------------------------------------------------


def objective_key(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise SweepSpecError(f"--objective {objective}: choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective]


def objective_value(metrics: Mapping[str, Any] | None, objective: str) -> float | None:
    """The objective's value, None when n/a (too few trades, no losing trade, no data)."""
    if metrics is None:
        return None
    v = metrics.get(OBJECTIVES[objective])
    if v is None or not isinstance(v, int | float) or math.isnan(v):
        return None
    if objective == "profit_factor" and (metrics.get("trades") or 0) < MIN_TRADES:
        return None  # as Sharpe: a ratio of a handful of trades is luck, never the best row
    return float(v)


def unranked(result: SweepResult) -> str:
    """What to say when the rows could not be ranked (every in-sample objective n/a), or ""."""
    if not result.rows or any(
        objective_value(r.in_sample, result.objective) is not None for r in result.rows
    ):
        return ""
    where = "every fold's train window" if result.folds else "every set"
    return (
        f"nothing could be ranked: {result.objective} is n/a for {where} (fewer than "
        f"{MIN_TRADES} closed trades or too few bars); the order is arbitrary. Rank by "
        "--objective return, or give a longer range"
    )


def rank(rows: Sequence[SweepRow], objective: str) -> list[SweepRow]:
    """Best first by the in-sample objective; n/a last, ties in their original order."""

    def key(i_row: tuple[int, SweepRow]) -> tuple[int, float, int]:
        v = objective_value(i_row[1].in_sample, objective)
        return (1, 0.0, i_row[0]) if v is None else (0, -v, i_row[0])

    return [r for _, r in sorted(enumerate(rows), key=key)]


def combine(held_outs: Sequence[Mapping[str, Any]], objective: str) -> dict[str, Any]:
    """The walk-forward's combined held-out result: the folds' returns compounded, trades
    summed, the worst fold's drawdown, the objective averaged over the folds: None when it is
    n/a in any fold (a mean of the folds that have one would drop the others, often the losing
    ones, and read as the whole period's: adv13 A10); ``objective_folds`` counts the folds
    that have one."""
    growth = 1.0
    for m in held_outs:
        growth *= 1.0 + float(m.get("return_pct") or 0.0) / 100.0
    values = [v for m in held_outs if (v := objective_value(m, objective)) is not None]
    key = OBJECTIVES[objective]
    out: dict[str, Any] = {
        "return_pct": round((growth - 1.0) * 100.0, 4),
        "trades": sum(int(m.get("trades") or 0) for m in held_outs),
        "max_drawdown_pct": max(
            (float(m.get("max_drawdown_pct") or 0.0) for m in held_outs), default=0.0
        ),
        "folds": len(held_outs),
    }
    if key != "return_pct":
        every = bool(values) and len(values) == len(held_outs)
        out[key] = round(sum(values) / len(values), 4) if every else None
        out["objective_folds"] = len(values)
    return out


# --- the result -------------------------------------------------------------------------------


@dataclass
class SweepRow:
    """One parameter set: ``params`` (the swept names only), its in-sample metrics and its
    held-out metrics (SUMMARY_KEYS of each; None when it was not run on the held-out period);
    ``fold``: the walk-forward fold it is the best of (None for a --holdout sweep)."""

    params: dict[str, Value]
    in_sample: dict[str, Any]
    held_out: dict[str, Any] | None = None
    fold: int | None = None


@dataclass
class Fold:
    """One walk-forward fold: its train and held-out windows (bar indices and first/last
    candle times, ms UTC) and the best parameter set of its train window, scored on both."""

    index: int
    train: Window
    test: Window
    train_ts: tuple[int, int]
    test_ts: tuple[int, int]
    best: SweepRow | None


@dataclass
class SweepResult:
    """A sweep or search, as the CLI prints it, exports it and the cockpit draws it.

    - ``strategy``, ``objective`` (a key of OBJECTIVES; rows rank by OBJECTIVES[objective] of
      ``in_sample``), ``mode`` ("grid" or "search"), ``seed`` (the search's; None for a grid);
    - ``param_names``: the swept parameters, in --sweep order (a heatmap's axes are the first
      two); ``ranges``: name -> the grid's values, or [low, high] searched; ``fixed``: the
      --param values held constant;
    - ``rows``: SweepRow, best first, n/a last. With ``holdout`` (e.g. "30%") every row holds
      its result on the held-out period (the last part of the range, which the search never
      saw). With walk-forward, ``rows`` are each fold's best (``fold`` set) in fold order and
      ``folds`` holds the windows; ``combined`` the folds' held-out results together
      (see `combine`);
    - ``total``: combinations asked for; ``skipped``: reason -> count of those not run;
      ``failed``: error -> count of those whose run raised (the strategy's code failed; the
      sweep goes on without them); ``repeats``: search trials that asked for a set already
      tried, answered from it (not run, not listed again);
    - ``source``, ``symbol``, ``first_ts``/``last_ts`` (the whole range, ms UTC) and
      ``split_ts`` (the first held-out candle, for --holdout).

    ``to_json()`` / ``from_json()`` round-trip exactly; the JSON export is ``to_json()``.
    """

    strategy: str
    objective: str
    mode: str
    param_names: list[str]
    ranges: dict[str, list[Value]]
    rows: list[SweepRow]
    total: int
    skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    holdout: str | None = None
    folds: list[Fold] = field(default_factory=list)
    combined: dict[str, Any] | None = None
    seed: int | None = None
    source: str = ""
    symbol: str = ""
    first_ts: int | None = None
    last_ts: int | None = None
    split_ts: int | None = None
    repeats: int = 0  # search trials that re-suggested a set already run: not run again

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for f in out["folds"]:  # as JSON reads them back
            f["train_ts"], f["test_ts"] = list(f["train_ts"]), list(f["test_ts"])
        out["version"] = 1
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepResult:
        d = {k: v for k, v in data.items() if k != "version"}
        d["rows"] = [SweepRow(**r) for r in d["rows"]]
        d["folds"] = [
            Fold(
                index=f["index"],
                train=Window(**f["train"]),
                test=Window(**f["test"]),
                train_ts=(int(f["train_ts"][0]), int(f["train_ts"][1])),
                test_ts=(int(f["test_ts"][0]), int(f["test_ts"][1])),
                best=SweepRow(**f["best"]) if f["best"] is not None else None,
            )
            for f in d["folds"]
        ]
        return cls(**d)

    def best(self) -> SweepRow | None:
        return self.rows[0] if self.rows else None


def search_axes(
    ranges: Mapping[str, FieldRange], given: Sequence[Axis], fixed: Mapping[str, Any]
) -> list[Axis]:
    """What a search explores: each --sweep axis as given, then every other numeric parameter
    with both bounds in the schema over its whole range (gt/lt: the nearest value inside),
    except the --param ones held fixed. SweepSpecError when nothing is left to search."""
    out = list(given)
    named = {a.name for a in given} | set(fixed)
    for r in ranges.values():
        if r.name in named or not r.bounded():
            continue
        assert r.lo is not None and r.hi is not None
        lo, hi = r.lo, r.hi
        if r.kind == "int":
            lo, hi = math.ceil(lo) + (r.lo_open and lo == math.ceil(lo)), math.floor(hi)
            hi -= r.hi_open and hi == r.hi
        else:
            lo = math.nextafter(lo, math.inf) if r.lo_open else lo
            hi = math.nextafter(hi, -math.inf) if r.hi_open else hi
        out.append(Axis(r.name, (), float(lo), float(hi), None, r.kind))
    if not out:
        raise SweepSpecError(
            "nothing to search: no parameter has both bounds in the schema or a --sweep "
            f"range; give one, e.g. --sweep NAME=LOW:HIGH (parameters: {schema_text(ranges)})"
        )
    return out
