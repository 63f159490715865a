"""Domain models. Money and quantities are `Decimal`; configs are validated pydantic models.

Hot-path values (candles, ticks, fills) are frozen dataclasses with slots: they are created
millions of times in a backtest and need no validation beyond their producer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fastinit import fast_init

ZERO = Decimal(0)
HUNDRED = Decimal(100)

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}


def timeframe_seconds(tf: str) -> int:
    """Seconds in a timeframe such as ``5m`` or ``1h``; ValueError names the valid ones."""
    try:
        return TIMEFRAMES[tf]
    except KeyError:
        raise ValueError(f"unknown timeframe {tf!r}; use one of {', '.join(TIMEFRAMES)}") from None


def cron_check(expr: str) -> None:
    """ValueError unless ``expr`` is a cron expression of 5 fields (minute first) or 6 (seconds
    first, e.g. ``*/30 * * * * *``). Times are UTC."""
    from croniter import croniter  # noqa: PLC0415 - read only by bots with a cron

    n = len(expr.split())
    if n not in (5, 6) or not croniter.is_valid(expr, second_at_beginning=n == 6):
        raise ValueError(
            f"cron {expr!r} is not valid: give 5 fields (min hour day month weekday) or 6 with "
            "seconds first, e.g. '*/30 * * * * *' (times are UTC)"
        )


def cron_next_ms(expr: str, after_ms: int) -> int:
    """The first time of the cron expression (UTC) strictly after ``after_ms``, in ms."""
    from croniter import croniter  # noqa: PLC0415

    six = len(expr.split()) == 6
    it = croniter(expr, after_ms / 1000, second_at_beginning=six)
    nxt: float = it.get_next(float)
    return round(nxt * 1000)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Exact Decimal of a number as written (floats go through their shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"
    BACKTEST = "backtest"


class BotStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ERROR = "error"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"
    CLOSE = "close"


class OrderStatus(StrEnum):
    """Where an order stands. A LIVE order moves only on evidence from the exchange
    (engine/exchange/lifecycle.py): PENDING -> UNKNOWN | ACKNOWLEDGED -> OPEN -> PARTIALLY_FILLED
    -> FILLED | CANCELED | REJECTED. Paper orders are FILLED at once."""

    PENDING = "pending"  # the intent, committed before any I/O; it may or may not have been sent
    UNKNOWN = "unknown"  # sent, but what the exchange did is not known: looked up until it is
    ACKNOWLEDGED = "acknowledged"  # the exchange gave it an id but no state (OKX's place reply)
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"  # fully filled, every fill in the ledger
    CANCELED = "canceled"  # cancelled or expired; fills it had stand
    REJECTED = "rejected"  # refused by the exchange: nothing was placed

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


class OrderReason(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    FLATTEN = "flatten"
    TIME_EXIT = "time_exit"  # held longer than the bot's maximum holding time


class VerdictStatus(StrEnum):
    APPROVED = "approved"
    CLAMPED = "clamped"
    REJECTED = "rejected"


# --------------------------------------------------------------------------- market data


@fast_init
@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``ts`` is the candle's open time in integer ms UTC."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One market data stream: what the MarketHub fetches and computes once."""

    exchange: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"


# --------------------------------------------------------------------------- configuration


class RiskLimits(BaseModel):
    """Per-bot risk limits. Percentages are of equity (0-100)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_pct: Decimal = Field(Decimal("15"), gt=0, le=100)
    max_exposure_pct: Decimal = Field(Decimal("85"), gt=0, le=100)
    stop_loss_pct: Decimal = Field(Decimal("3.5"), gt=0, lt=100)
    take_profit_pct: Decimal = Field(Decimal("7"), gt=0, le=1000)
    min_notional: Decimal = Field(Decimal("10"), ge=0)
    daily_loss_limit_pct: Decimal = Field(Decimal("5"), gt=0, le=100)
    max_drawdown_pct: Decimal = Field(Decimal("25"), gt=0, le=100)
    # Maximum holding time in seconds: a position older than it is closed at the next bar
    # close ("time exit"). None = no limit.
    max_hold_s: int | None = Field(None, ge=60, le=365 * 86400)

    @model_validator(mode="after")
    def _position_within_exposure(self) -> RiskLimits:
        if self.max_position_pct > self.max_exposure_pct:
            raise ValueError(
                "max_position_pct must not exceed max_exposure_pct "
                f"({self.max_position_pct} > {self.max_exposure_pct})"
            )
        return self


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}$")


class BotConfig(BaseModel):
    """Everything that defines a bot. Immutable: an update makes a new one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    exchange: str = "sim"
    symbols: tuple[str, ...] = ("BTC/USDT",)
    timeframe: str = "1m"
    strategy: str = "sma_cross"
    params: dict[str, Any] = Field(default_factory=dict)
    capital: Decimal = Field(Decimal("10000"), gt=0, le=Decimal("1e12"))
    risk: RiskLimits = Field(default_factory=RiskLimits)
    # 0 = decide on every candle close; otherwise at most once per this many seconds.
    cadence_s: int = Field(0, ge=0, le=86400)
    # A cron expression (UTC; 5 fields, or 6 with seconds first: "*/30 * * * * *"): when set,
    # the bot decides at the first market input at or after each cron time (engine/bot.py,
    # ``BotRunner._due``) and ``cadence_s`` is not used. "" = no cron.
    cron: str = ""
    # Decide once as soon as the bot is started or resumed, not only at the next due time.
    run_on_start: bool = False
    # Failed cycles in a row before the bot is put in the error state (today's limit: 20), and
    # the wait before a failed cycle is tried again (0 = at the next due time, as before).
    retry_attempts: int = Field(20, ge=1, le=1000)
    retry_delay_s: int = Field(0, ge=0, le=86400)
    mode: Mode = Mode.PAPER
    fee_rate: Decimal = Field(Decimal("0.001"), ge=0, lt=Decimal("0.1"))
    slippage_bps: Decimal = Field(Decimal("0"), ge=0, le=500)
    # Settings of strategies that need more than params (the LLM strategy): provider, model, ...
    llm: dict[str, Any] = Field(default_factory=dict)
    # What stopping the bot does with its open positions: "keep" them (their SL/TP are then not
    # watched until it runs again) or "close" them at market. A stop can also choose per call.
    on_stop: Literal["keep", "close"] = "keep"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "name must be 1-40 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        return v

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s for s in re.split(r"[,\s]+", v) if s]
        return tuple(str(s).strip().upper() for s in v)

    @field_validator("symbols")
    @classmethod
    def _symbols_valid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("give at least one symbol, e.g. BTC/USDT")
        if len(v) > 20:
            raise ValueError("at most 20 symbols per bot")
        for s in v:
            if not _SYMBOL_RE.match(s):
                raise ValueError(f"symbol {s!r} must look like BASE/QUOTE, e.g. BTC/USDT")
        if len(set(v)) != len(v):
            raise ValueError("symbols must not repeat")
        quotes = {s.split("/")[1] for s in v}
        if len(quotes) > 1:
            raise ValueError(f"all symbols must share one quote currency, got {sorted(quotes)}")
        return v

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, v: str) -> str:
        timeframe_seconds(v)
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        v = " ".join(v.split())
        if v:
            cron_check(v)
        return v

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, v: str) -> str:
        v = v.strip().lower()
        if not re.match(r"^[a-z0-9_]{2,30}$", v):
            raise ValueError("exchange must be 'sim' or a ccxt exchange id such as 'binance'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BotConfig:
        if self.mode is Mode.LIVE and self.exchange == "sim":
            raise ValueError("LIVE trading needs a real exchange (e.g. binance), not 'sim'")
        smallest = self.risk.min_notional * 100 / self.risk.max_position_pct
        if self.capital < smallest:
            raise ValueError(
                f"capital {self.capital} is too small: a {self.risk.max_position_pct}% position "
                f"would be below the minimum order of {self.risk.min_notional}; use at least "
                f"{smallest.quantize(Decimal('0.01'))}"
            )
        return self

    @property
    def quote(self) -> str:
        return self.symbols[0].split("/")[1]

    def stream_keys(self) -> list[StreamKey]:
        return [StreamKey(self.exchange, s, self.timeframe) for s in self.symbols]


# --------------------------------------------------------------------------- decisions


@fast_init
@dataclass(frozen=True, slots=True)
class SymbolDecision:
    """What a strategy or LLM proposes for one symbol. Sizes are proposals; risk sizes."""

    symbol: str
    action: Action
    size_pct: Decimal | None = None  # proposed % of equity for a buy; None = the limit
    stop_loss: Decimal | None = None  # absolute prices; None = the risk default
    take_profit: Decimal | None = None
    confidence: float | None = None
    reasoning: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    bot: str
    ts: int
    items: tuple[SymbolDecision, ...]
    reasoning: str = ""
    source: str = "rule"  # "rule", "llm", "offline", "fallback"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_hold(self) -> bool:
        for i in self.items:  # a loop: asked of every decision, at every candle
            if i.action is not Action.HOLD:
                return False
        return True


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A sized order the risk manager approved; the broker executes it."""

    bot: str
    symbol: str
    side: Side
    qty: Decimal
    reason: OrderReason
    client_order_id: str
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    limit_price: Decimal | None = None  # reference price used for sizing


@dataclass(frozen=True, slots=True)
class Verdict:
    status: VerdictStatus
    reasons: tuple[str, ...]
    intents: tuple[OrderIntent, ...] = ()

    def summary(self) -> str:
        head = self.status.value.upper()
        return f"{head}: {'; '.join(self.reasons)}" if self.reasons else head


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    bot: str
    symbol: str
    side: Side
    qty: Decimal
    reason: OrderReason
    status: OrderStatus
    ts: int
    exchange_order_id: str | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    client_order_id: str
    bot: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts: int
    reason: OrderReason = OrderReason.ENTRY
    # P&L this fill realised (exits; fees excluded), set when the ledger books it; None for
    # fills stored before schema v4
    realised: Decimal | None = None
    # The fee as the exchange charged it: ``fee_cost`` in ``fee_currency``. "" means the quote
    # currency (paper fills, and fills stored before schema v5); ``fee`` above is then the same
    # amount. A fee in the BASE coin (Binance without BNB, OKX spot buys) is taken from the coins
    # received: ``fee`` holds its quote value and the position gets ``qty - fee_cost``. A fee in
    # a third coin (BNB) is recorded but not priced: ``fee`` is 0.
    fee_currency: str = ""
    fee_cost: Decimal | None = None

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price

    @property
    def base_fee(self) -> Decimal:
        """The part of the fee taken in the base coin (0 unless the exchange charged it so)."""
        if self.fee_currency and self.fee_cost and self.fee_currency == base_of(self.symbol):
            return self.fee_cost
        return ZERO


def base_of(symbol: str) -> str:
    """``BTC`` of ``BTC/USDT`` (and of ``BTC/USDT:USDT``)."""
    return symbol.split("/", 1)[0]


def quote_of(symbol: str) -> str:
    """``USDT`` of ``BTC/USDT`` (and of ``BTC/USDT:USDT``)."""
    return symbol.split("/", 1)[1].split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Position:
    """A long spot position. ``cost`` is qty x average entry, fees excluded."""

    symbol: str
    qty: Decimal
    avg_entry: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_ts: int

    side: str = "long"

    @property
    def cost(self) -> Decimal:
        return self.qty * self.avg_entry

    def unrealised(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_entry) * self.qty


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What is stored per decision (rule or LLM) for audit and the reasoning panel."""

    bot: str
    ts: int
    source: str  # rule, llm, offline, fallback
    actions: str  # compact "BTC/USDT:buy ETH/USDT:hold"
    reasoning: str = ""
    verdict: str = ""  # approved / clamped / rejected / "" (hold)
    verdict_reasons: str = ""
    order_ids: str = ""  # comma separated client order ids
    provider: str = ""
    model: str = ""
    prompt_hash: str = ""
    prompt: str = ""  # capped
    raw_reply: str = ""  # capped
    parsed: str = ""  # JSON of the parsed decision
    error: str = ""  # parse / provider failure, if any
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = ZERO
    latency_ms: int = 0
    # What to know about this decision that is not an error, e.g. "usage estimated: the
    # server's figures were implausible (...)"
    flags: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class EquityPoint:
    bot: str
    ts: int
    equity: Decimal
    cash: Decimal


@dataclass(frozen=True, slots=True)
class CapitalFlow:
    """Money put into (``amount`` > 0) or taken out of (< 0) a bot's wallet by the user, e.g.
    an edit of its capital: a deposit or a withdrawal in the ledger, never profit or loss.
    ``capital`` is the bot's net deposits after it; ``equity_before`` its equity just before
    (the risk manager rescales its kill-switch references by ``(equity + amount) / equity``)."""

    bot: str
    ts: int
    amount: Decimal
    capital: Decimal
    equity_before: Decimal


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the kill switches remember (``RiskManager.state``): the peak equity and the UTC
    day (market clock, days since the epoch) with its opening equity. Stored, so a restart
    or an edit never forgets a tripped switch."""

    peak_equity: Decimal | None
    day: int | None
    day_start_equity: Decimal | None

    def after_flow(self, equity_before: Decimal, amount: Decimal) -> RiskState:
        """The references after a deposit or withdrawal, scaled like the wallet, so the
        percentages the switches measure (drawdown, today's loss) are unchanged by it
        (time-weighted: a flow is neither a gain nor a loss)."""
        if equity_before <= 0:
            after = equity_before + amount
            return RiskState(after, self.day, after if self.day is not None else None)
        factor = (equity_before + amount) / equity_before

        def scale(v: Decimal | None) -> Decimal | None:
            return None if v is None else v * factor

        return RiskState(scale(self.peak_equity), self.day, scale(self.day_start_equity))


@dataclass(frozen=True, slots=True)
class LeaseClaim:
    """What claiming a bot's lease gave (storage/leases.py): ``ok`` with the ``epoch`` every
    ledger write of the bot then checks, and ``must_reconcile`` when it was taken from an
    engine whose lease had expired (a crash); else the engine that holds it (name, host) and
    how long its lease still runs."""

    bot: str
    ok: bool
    epoch: int = 0
    must_reconcile: bool = False
    owner: str = ""
    owner_host: str = ""
    expires_in_ms: int = 0
