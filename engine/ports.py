"""The engine's seams: what it needs from the outside, as typed protocols.

The engine never imports storage, the keyring or a front end: the composition root
(oxbot.app.runtime) hands it objects that fit these shapes. Each protocol lists exactly what the
engine calls, so a test double knows what it must provide and mypy checks the real ones do.

- ``BotLedger`` / ``EngineStore``: the ledger (storage.Store implements both).
- ``BrokerPort``: executing a bot's orders (``broker.Broker`` is the base with paper defaults).
- ``Market``: candles and prices to subscribers (``market.hub.MarketHub``).
- ``Clock``: the wall clock (``clock.WallClock``); the sim market keeps its own virtual time.
- ``SecretsSource``: exchange keys by exchange id (the keyring, in the composition root).
- ``Service``: started and closed with the engine (the control socket).
- ``EngineClient``: how a front end talks to an engine, wherever it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .broker import BrokerLink, Execution
from .clock import Clock
from .messages import Command, Event, ReconcileItem
from .models import (
    BotConfig,
    BotStatus,
    CapitalFlow,
    DecisionRecord,
    EquityPoint,
    Fill,
    LeaseClaim,
    Order,
    OrderIntent,
    Position,
    RiskState,
    StreamKey,
)

if TYPE_CHECKING:  # heavy (pandas) or cyclic at run time; names only for the checker
    from .exchange.clients import Credentials
    from .market.hub import Subscriber
    from .market.indicators import IndicatorSpec
    from .risk import MarketRules


@runtime_checkable
class BotLedger(Protocol):
    """The storage calls a running bot makes: one transaction per cycle, its status, and what
    its kill switches remember."""

    @property
    def write_failing(self) -> bool:
        """True while the last write failed (a full disk): failed cycles are not reset."""
        ...

    async def record_cycle(
        self,
        bot: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        positions: Mapping[str, Position | None] | None = None,
        decision: DecisionRecord | None = None,
        equity: Sequence[EquityPoint] = (),
    ) -> list[bool]: ...

    async def set_bot_status(self, name: str, status: BotStatus) -> None: ...

    async def save_risk_state(
        self, bot: str, state: RiskState, equity: Sequence[EquityPoint] = ()
    ) -> None: ...


@runtime_checkable
class EngineStore(BotLedger, Protocol):
    """Everything the engine reads and writes of the ledger: the bots, their history for the
    displays, and what a restart resumes from."""

    @property
    def path(self) -> Path:
        """The database file (shown in `oxbot status`)."""
        ...

    async def load_bots(self) -> list[tuple[BotConfig, BotStatus]]: ...

    async def save_bot(
        self,
        config: BotConfig,
        status: BotStatus,
        *,
        flow: CapitalFlow | None = None,
        risk: RiskState | None = None,
    ) -> None: ...

    async def add_bots(self, configs: Sequence[BotConfig], status: BotStatus) -> None: ...

    async def delete_bot(self, name: str, purge_history: bool = False) -> bool: ...

    async def load_fills(self, bot: str) -> list[Fill]: ...

    async def load_positions(self, bot: str) -> dict[str, Position]: ...

    async def load_flows(self, bot: str) -> list[CapitalFlow]: ...

    async def open_orders(self, bot: str | None = None) -> list[Order]: ...

    async def recent_fills(self, bot: str | None, limit: int) -> list[Fill]: ...

    async def recent_decisions(self, bot: str, limit: int) -> list[DecisionRecord]: ...

    async def decision_stats(self, bot: str, day_ts: int | None = None) -> dict[str, Any]: ...

    async def equity_series(self, bot: str, limit: int = 2000) -> list[tuple[int, Decimal]]: ...

    async def day_open_equity(self, bot: str) -> tuple[int, Decimal] | None: ...

    async def load_risk_state(self, bot: str) -> RiskState | None: ...

    async def load_marks(self) -> dict[str, tuple[int, Decimal]]: ...

    async def save_marks(self, marks: Mapping[str, tuple[int, Decimal]]) -> None: ...

    # Several engines on one database (storage/leases.py): each bot runs on the engine that
    # holds its lease; every ledger write of a bot raises LeaseLost once another took it.

    @property
    def shared(self) -> bool:
        """True when other engines may write the same database (PostgreSQL)."""
        ...

    async def register_engine(self, name: str, ttl_s: float) -> str: ...

    async def claim_bot(self, bot: str, ttl_s: float) -> LeaseClaim: ...

    async def renew_leases(self, ttl_s: float) -> list[str]: ...

    async def release_bot(self, bot: str) -> None: ...

    async def bot_reconciled(self, bot: str) -> None: ...

    async def deregister_engine(self) -> None: ...


@runtime_checkable
class BrokerPort(Protocol):
    """What a bot and the engine ask of a broker. ``broker.Broker`` implements it with the
    defaults of a paper broker (nothing to start, settle or reconcile); the LIVE broker
    overrides them."""

    async def start(self, link: BrokerLink) -> list[Execution]: ...

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution: ...

    async def settle(self, ts: int) -> list[Execution]: ...

    def blocked(self) -> Mapping[str, str]: ...

    def not_ready(self) -> str: ...

    def order_ids(self, bot: str) -> Callable[[], str]: ...

    def reconcile_items(self) -> tuple[ReconcileItem, ...]: ...

    async def resolve_reconcile(self, item_id: str, action: str) -> tuple[str, list[Execution]]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Market(Protocol):
    """What the engine and its bots use of the market (``market.hub.MarketHub``)."""

    @property
    def virtual_ms(self) -> int | None:
        """The sim market's clock while it replays; None in real time."""
        ...

    def bind(
        self, publish: Callable[[Event], None], runners: Callable[[], Iterable[Any]]
    ) -> None: ...

    def subscribe(
        self,
        sub: Subscriber,
        keys: Iterable[StreamKey],
        specs: Iterable[IndicatorSpec],
        bars: int = ...,
    ) -> None: ...

    def unsubscribe(self, sub: Subscriber) -> None: ...

    def rules_for(self, exchange: str) -> Callable[[str], MarketRules] | None: ...

    def last_price(self, key: StreamKey) -> float | None: ...

    def resume_from(
        self, ts: int, marks: Mapping[str, tuple[int, Decimal]] | None = None
    ) -> None: ...

    def marks(self) -> dict[str, tuple[int, Decimal]]: ...

    def feeds(self) -> dict[str, str]:
        """exchange -> how its market data arrives ("ws", "rest (ws down: ...)")."""
        ...

    async def wait_turn(self) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class Service(Protocol):
    """Something started once the engine runs and closed when it stops (the control
    socket)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# Exchange keys by exchange id, or None when there are none; the composition root reads the
# keyring (maybe in a thread, hence the awaitable). The engine never reads keys itself.
SecretsSource = Callable[[str], "Credentials | Awaitable[Credentials | None] | None"]

EventListener = Callable[[Event], None]


class EngineClient(Protocol):
    """How a front end (the TUI, the CLI) talks to an engine, wherever it runs.

    Two implementations: the in-process host (engine on a thread of this process) and the
    control-socket client (engine in another process). Neither blocks the caller: `submit`
    queues a command; events arrive through the listener, called on whatever thread the
    implementation uses (front ends marshal to their own thread)."""

    def start(self, listener: EventListener) -> None:
        """Connect (or start the engine) and deliver every event to ``listener`` from now on.
        The first event delivered is an EngineSnapshot."""

    def submit(self, command: Command) -> None:
        """Queue a command; never blocks. Its CommandDone event carries the outcome."""

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect; an in-process client also stops its engine cleanly (state persisted)."""

    @property
    def attached(self) -> bool:
        """True when the engine lives in another process (quitting leaves it running)."""


__all__ = [
    "BotLedger",
    "BrokerPort",
    "Clock",
    "EngineClient",
    "EngineStore",
    "EventListener",
    "Market",
    "SecretsSource",
    "Service",
]
