"""What an arena run produces: the contract between the arena runner (app/arena.py), its exports
and the cockpit's Arena screen. Plain data, no I/O; money is Decimal, ratios are floats or None
(None = n/a: too few periods or trades, see engine/backtest/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Leaderboard columns a user can sort by (the key of ContestantResult's field), in display order.
SORT_KEYS = (
    "return_pct",
    "pnl",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "trades",
    "fees",
    "llm_calls",
    "tokens",
    "llm_cost",
    "failures",
    "calls_saved",
    "return_per_dollar",
)


@dataclass(frozen=True)
class ContestantResult:
    """One contestant's row of the leaderboard (the baseline is a contestant with
    kind == "baseline")."""

    name: str
    kind: str  # "llm" | "rule" | "baseline"
    label: str  # what it is, e.g. "openai gpt-4o-mini", "sma_cross fast=10 slow=30", "buy & hold"
    start_cash: Decimal
    final_equity: Decimal
    pnl: Decimal  # final_equity - start_cash, after fees
    return_pct: float
    sharpe: float | None
    max_drawdown_pct: float
    win_rate_pct: float | None  # None without closed trades
    trades: int  # closed round trips
    fees: Decimal
    llm_calls: int = 0  # calls answered (from the model or the reply cache)
    tokens: int = 0  # prompt + completion
    llm_cost: Decimal = Decimal(0)  # dollars; 0 for local models and cache hits of free ones
    failures: int = 0  # parse + transport failures (each a counted HOLD)
    calls_saved: int = 0  # decision points skipped by event gating
    return_per_dollar: float | None = None  # return_pct / llm_cost; None when nothing was spent
    error: str | None = None  # a contestant that could not run says why; the others still rank

    @classmethod
    def empty(
        cls, name: str, kind: str, label: str, cash: Decimal, error: str | None = None
    ) -> ContestantResult:
        """A row with nothing traded yet (or, with ``error``, a contestant that could not run)."""
        return cls(
            name=name,
            kind=kind,
            label=label,
            start_cash=cash,
            final_equity=cash,
            pnl=Decimal(0),
            return_pct=0.0,
            sharpe=None,
            max_drawdown_pct=0.0,
            win_rate_pct=None,
            trades=0,
            fees=Decimal(0),
            error=error,
        )


@dataclass(frozen=True)
class EquitySeries:
    """One contestant's equity over the arena's shared decision times (ms since epoch, UTC)."""

    name: str
    ts: list[int]
    equity: list[float]


@dataclass
class ArenaResult:
    """A finished (or, while running, partial) arena."""

    title: str
    market: str  # e.g. "csv binance_BTC-USDT_1h.csv", "sim seed=7"
    symbols: list[str]
    timeframe: str
    first_ms: int
    last_ms: int
    start_cash: Decimal
    rows: list[ContestantResult] = field(default_factory=list)
    curves: list[EquitySeries] = field(default_factory=list)
    done: int = 0  # contestants finished
    total: int = 0  # contestants in all (baseline included)
    # Warnings about the whole run, e.g. a model whose knowledge cut-off is after the period
    # starts (it may have seen the prices it is judged on)
    notes: list[str] = field(default_factory=list)
    # Added by the runner (app/arena.py): how far the whole run is (0..1, every contestant's
    # candles), and the model calls made and dollars spent by this run (not from the cache).
    fraction: float = 0.0
    calls_now: int = 0
    spent_now: Decimal = Decimal(0)

    def sorted_rows(
        self, key: str = "return_pct", descending: bool = True
    ) -> list[ContestantResult]:
        """Rows by a SORT_KEYS column; rows where it is None (n/a) or errored go last."""
        if key not in SORT_KEYS:
            raise ValueError(f"unknown column {key!r}; one of: {', '.join(SORT_KEYS)}")
        have = [r for r in self.rows if r.error is None and getattr(r, key) is not None]
        rest = [r for r in self.rows if r not in have]
        have.sort(key=lambda r: getattr(r, key), reverse=descending)
        return have + rest
