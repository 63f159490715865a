"""Commands in (imperative) and events out (past tense): the engine's whole public surface.

All are frozen dataclasses of plain values (str, int, Decimal, enums, tuples, dicts of those), so
`oxbot.remote.codec` can turn them into JSON lines for the control socket and back without loss
(pydantic validates what comes in: ``WIRE`` and ``Money`` say how strictly).
The market facts at the end stay inside the engine: what the market streams tell the bots.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, with_config

from .fastinit import fast_init
from .models import BotConfig, BotStatus, StreamKey

# How a message read from outside (the control socket) is checked: every value of its declared
# type (no "yes" for true, no 5 for a name), no field the class does not have.
WIRE = ConfigDict(strict=True, extra="forbid")


def _money(value: object) -> object:
    """Money travels as text ("12.50") and is read exactly; a JSON number with a fraction went
    through a float on its way and may have lost digits, so it is refused rather than rounded."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite decimal number")
        return number
    if isinstance(value, Decimal):
        return value
    raise ValueError(f"expected a decimal number as a string, got {value!r}")


Money = Annotated[Decimal, BeforeValidator(_money)]

# --------------------------------------------------------------------------- commands


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class Command:
    """Base of every command. ``request_id`` lets a client match the CommandDone reply."""

    request_id: str = ""


@dataclass(frozen=True, slots=True)
class AddBot(Command):
    config: BotConfig | None = None
    start: bool = False


@dataclass(frozen=True, slots=True)
class UpdateBot(Command):
    name: str = ""
    config: BotConfig | None = None


@dataclass(frozen=True, slots=True)
class StartBot(Command):
    name: str = ""


@dataclass(frozen=True, slots=True)
class StopBot(Command):
    """Stop a bot. ``close_positions``: True closes its positions at market, False keeps them
    (their stop-loss and take-profit are then not watched), None follows the bot's ``on_stop``
    setting."""

    name: str = ""
    close_positions: bool | None = None


@dataclass(frozen=True, slots=True)
class PauseBot(Command):
    name: str = ""


@dataclass(frozen=True, slots=True)
class ResumeBot(Command):
    name: str = ""


@dataclass(frozen=True, slots=True)
class FlattenBot(Command):
    name: str = ""


@dataclass(frozen=True, slots=True)
class DeleteBot(Command):
    name: str = ""
    purge_history: bool = False


@dataclass(frozen=True, slots=True)
class PanicAll(Command):
    """Stop every bot and flatten every position."""


@dataclass(frozen=True, slots=True)
class HoldDecisions(Command):
    """Hold every bot's new decisions (``hold``) for ``seconds`` unless renewed, or release them.
    Sent while a PANIC confirmation is on screen; stop-loss and take-profit keep running."""

    hold: bool = True
    seconds: int = 60
    why: str = "PANIC confirmation open"


@dataclass(frozen=True, slots=True)
class RequestSnapshot(Command):
    """Ask for an EngineSnapshot (a client attaching or resyncing)."""


@dataclass(frozen=True, slots=True)
class Shutdown(Command):
    """Stop the engine gracefully (bots' state persisted)."""


@dataclass(frozen=True, slots=True)
class RequestEquityHistory(Command):
    """Ask for a bot's stored equity curve (a display opening a chart); answered by an
    EquityHistory event with the newest ``limit`` points."""

    bot: str = ""
    limit: int = 600


@dataclass(frozen=True, slots=True)
class RequestRecentFills(Command):
    """Ask for the newest stored fills of ``bot`` (every bot when empty), e.g. a display
    filling its Fills panel after a restart; answered by a RecentFills event."""

    bot: str = ""
    limit: int = 200


@dataclass(frozen=True, slots=True)
class RequestDecisionHistory(Command):
    """Ask for the newest stored decisions of ``bot`` (a display filling its reasoning panel
    after a restart or an attach); answered by a DecisionHistory event."""

    bot: str = ""
    limit: int = 30


@dataclass(frozen=True, slots=True)
class RequestReconcile(Command):
    """Ask for a ReconcileFound event per LIVE bot (or ``bot``) with differences still open."""

    bot: str = ""


@dataclass(frozen=True, slots=True)
class ResolveReconcile(Command):
    """The user's choice for one start-up reconciliation difference (ReconcileFound):
    ``action`` is "adopt" (make the database match the exchange) or "ignore"."""

    bot: str = ""
    item_id: str = ""
    action: str = "ignore"


# --------------------------------------------------------------------------- events


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class Event:
    ts: int = 0  # engine clock, ms


@dataclass(frozen=True, slots=True)
class CommandDone(Event):
    request_id: str = ""
    command: str = ""
    ok: bool = True
    message: str = ""


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class LlmFigures:
    """What an LLM bot's calls cost and how often they failed (engine/llm/accounting.py keeps
    them): the bots table's LLM column, `oxbot status` and the tests read these fields."""

    provider: str = ""
    model: str = ""
    decisions: int = 0
    llm_calls: int = 0
    calls_saved: int = 0  # decisions a trigger found needless (cadence "trigger")
    repairs: int = 0
    tokens_in_today: int = 0
    tokens_out_today: int = 0
    tokens_in_total: int = 0
    tokens_out_total: int = 0
    cost_today: Money = Decimal(0)  # USD
    cost_total: Money = Decimal(0)
    cost_per_decision: Money = Decimal(0)
    unpriced: bool = False  # the model has no price: its spend is unknown, not $0
    budget_paused: bool = False  # today's spend reached the daily budget
    failures: int = 0  # decisions that ended as a HOLD for want of a usable answer
    transport_errors: int = 0  # of which the call itself failed (network, HTTP, key)
    parse_failures: tuple[tuple[str, int], ...] = ()  # (model, unreadable replies)
    failure_rate: float = 0.0  # failures / decisions
    parse_failure_rate: float = 0.0
    last_failure: str = ""  # why the last decision failed; "" once one succeeds
    last_failure_kind: str = ""  # the same in a few words ("rate limited", "bad reply")
    last_trigger: str = ""  # why the last call was made (cadence "trigger")


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class BotView:
    """An immutable picture of one bot for displays."""

    name: str
    config: BotConfig
    status: BotStatus
    cash: Money
    equity: Money
    start_equity: Money  # net deposits: the capital plus deposits minus withdrawals
    day_start_equity: Money  # today's opening equity, deposits and withdrawals since added
    realised: Money
    fees: Money
    open_positions: int
    trades: int
    cycles: int
    errors: int
    last_decision_ts: int | None
    next_cycle_ts: int | None
    last_error: str = ""
    pause_reason: str = ""  # why a pause not made by the user (an exchange unreachable)
    stale_symbols: tuple[str, ...] = ()  # symbols whose price stopped updating
    not_ready: str = ""  # LIVE: why the bot does not decide (not reconciled yet)
    unresolved: tuple[str, ...] = ()  # LIVE: symbols with an order whose end is not known
    llm: LlmFigures | None = None  # an LLM bot's spend and failures; None for other bots
    # the engine that runs the bot when another engine of the same database does (its name;
    # None: this engine, or nobody). Set in the engine's snapshots only.
    engine: str | None = None

    @property
    def pnl_pct(self) -> Decimal:
        """Return on net deposits (capital edits move the base, never the return)."""
        if not self.start_equity:
            return Decimal(0)
        return (self.equity - self.start_equity) / self.start_equity * 100


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class PositionView:
    bot: str
    symbol: str
    side: str
    qty: Money
    entry: Money
    mark: Money
    unrealised: Money
    stop_loss: Money | None
    take_profit: Money | None


@dataclass(frozen=True, slots=True)
class EngineSnapshot(Event):
    state: str = "running"
    bots: tuple[BotView, ...] = ()
    positions: tuple[PositionView, ...] = ()
    # (exchange, how its market data arrives: "ws", "rest (ws down: ...)"), as MarketFeed says
    feeds: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class EngineStateChanged(Event):
    state: str = ""  # starting, running, stopping, stopped
    message: str = ""


@dataclass(frozen=True, slots=True)
class BotStateChanged(Event):
    bot: BotView | None = None


@dataclass(frozen=True, slots=True)
class BotRemoved(Event):
    name: str = ""


@dataclass(frozen=True, slots=True)
class ReasoningStarted(Event):
    bot: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class ReasoningChunk(Event):
    bot: str = ""
    text: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class DecisionMade(Event):
    bot: str = ""
    source: str = ""
    actions: tuple[tuple[str, str], ...] = ()  # (symbol, action)
    reasoning: str = ""
    verdict: str = ""  # approved / clamped / rejected / "" for a hold
    verdict_reasons: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderFilled(Event):
    bot: str = ""
    symbol: str = ""
    side: str = ""
    qty: Money = Decimal(0)
    price: Money = Decimal(0)
    fee: Money = Decimal(0)
    reason: str = ""
    realised: Money = Decimal(0)
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class PositionChanged(Event):
    bot: str = ""
    symbol: str = ""
    position: PositionView | None = None  # None = closed


@fast_init
@dataclass(frozen=True, slots=True)
class EquitySampled(Event):
    bot: str = ""
    equity: Money = Decimal(0)
    cash: Money = Decimal(0)


@fast_init
@dataclass(frozen=True, slots=True)
class CandleClosed(Event):
    """A closed candle of one of the bot's symbols, for the cockpit's price panel: one per bot
    per candle of its streams (``ts`` is the candle's close time). Prices are the candle's own
    floats (chart data, not money); ``mas`` holds the strategy's moving-average columns at
    this candle (name, value), those that have a value yet."""

    bot: str = ""
    symbol: str = ""
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    mas: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class CycleFailed(Event):
    bot: str = ""
    error: str = ""
    consecutive: int = 1


@dataclass(frozen=True, slots=True)
class EngineError(Event):
    message: str = ""


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """Something a user should read (budget reached, breaker opened, ...)."""

    level: str = "info"  # info, warning, error
    message: str = ""
    bot: str = ""


@dataclass(frozen=True, slots=True)
class MarketFeed(Event):
    """How an exchange's market data arrives now: "ws" (websocket), "rest" (polling), or
    "rest (ws down: <reason>)" (engine/market/ccxt_streams.py)."""

    exchange: str = ""
    feed: str = ""


@dataclass(frozen=True, slots=True)
class EquityHistory(Event):
    """A bot's stored equity curve, oldest first (the answer to RequestEquityHistory), and
    its deposits (> 0) and withdrawals (< 0) as (ts, amount), oldest first: the steps of the
    curve that are not profit or loss."""

    bot: str = ""
    points: tuple[tuple[int, Money], ...] = ()
    flows: tuple[tuple[int, Money], ...] = ()


@dataclass(frozen=True, slots=True)
class CapitalChanged(Event):
    """A bot's capital was edited: ``amount`` deposited (> 0) or withdrawn (< 0), leaving
    ``capital`` (net deposits). Not profit or loss."""

    bot: str = ""
    amount: Money = Decimal(0)
    capital: Money = Decimal(0)


@dataclass(frozen=True, slots=True)
class RecentFills(Event):
    """Stored fills, oldest first (the answer to RequestRecentFills). ``realised`` is 0 for
    fills stored before schema v4, which did not keep per-fill P&L."""

    bot: str = ""
    fills: tuple[OrderFilled, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionHistory(Event):
    """A bot's stored decisions, oldest first, as the DecisionMade events they were (the
    answer to RequestDecisionHistory): the reasoning panel of a fresh cockpit is not empty."""

    bot: str = ""
    decisions: tuple[DecisionMade, ...] = ()


@with_config(WIRE)
@dataclass(frozen=True, slots=True)
class ReconcileItem:
    """One difference between the database and the exchange found when a LIVE bot started.
    ``kind``: "orphan" (exchange order unknown to us), "ghost" (our open order not open there)
    or "balance"; ``actions``: what the user may choose ("adopt", "ignore")."""

    id: str
    kind: str
    symbol: str
    detail: str
    actions: tuple[str, ...] = ("adopt", "ignore")


@dataclass(frozen=True, slots=True)
class ReconcileFound(Event):
    """A LIVE bot's start-up reconciliation left differences waiting for the user's choice
    (ResolveReconcile); ``items`` are the ones still open (empty: all resolved)."""

    bot: str = ""
    items: tuple[ReconcileItem, ...] = ()


# --------------------------------------------------------------------------- market facts
# What the market streams (engine/market/ccxt_streams.py) tell the bots reading them. Facts,
# not orders: the bot records them in its view and decides what to do (BotRunner.market_fact,
# BotRunner.exchange_fact). They never leave the engine.


@dataclass(frozen=True, slots=True)
class PriceStale:
    """The price of ``key`` stopped updating: its last good one is from ``since`` (ms; None
    when none ever came); ``error`` is what the exchange last answered."""

    key: StreamKey
    since: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class PriceLive:
    """The price of ``key`` updates (again, or since the bot started reading it)."""

    key: StreamKey


@dataclass(frozen=True, slots=True)
class ExchangeUnreachable:
    """The circuit breaker of ``exchange`` opened: calls to it fail (``reason``)."""

    exchange: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ExchangeReachable:
    """The circuit breaker of ``exchange`` closed again. ``paused``: the bots that were RUNNING
    when it opened and paused then (the only ones it may resume)."""

    exchange: str
    reason: str = ""
    paused: tuple[str, ...] = ()


PriceFact = PriceStale | PriceLive
ExchangeFact = ExchangeUnreachable | ExchangeReachable
