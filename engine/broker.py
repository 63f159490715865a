"""The broker contract: paper and live brokers both pass tests/engine/test_broker_contract.py.

A broker returns what happened as values (``Execution``: the order as it now stands and its new
fills); the bot's ledger applies and stores them. A broker never holds the bot: what it may know
of it comes through a ``BrokerLink`` (what the ledger holds, a nudge to settle soon, notices).
"""

from __future__ import annotations

import itertools
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from .models import Fill, Order, OrderIntent

if TYPE_CHECKING:  # engine/messages.py is heavy to import and a backtest needs none of it
    from .messages import Event, ReconcileItem


@dataclass(frozen=True, slots=True)
class Execution:
    """The outcome of one intent: the order as it now stands, and any fills it produced."""

    order: Order
    fills: tuple[Fill, ...]


def _nothing() -> None:
    return None


def _drop(_event: Event) -> None:
    return None


def _zero() -> int:
    return 0


@dataclass(frozen=True, slots=True)
class BrokerLink:
    """What a broker may know of its bot, and ask of it.

    ``holdings()`` is symbol -> base quantity the bot's ledger holds; ``wake()`` asks the bot
    to call ``settle`` soon (an order is due a lookup); ``publish(event)`` states a fact to the
    user (a Notice, the reconciliation list); ``now_ms()`` is the engine's clock."""

    bot: str
    holdings: Callable[[], Mapping[str, Decimal]] = field(default=dict)
    wake: Callable[[], None] = _nothing
    publish: Callable[[Event], None] = _drop
    now_ms: Callable[[], int] = _zero


class Broker(ABC):
    """Executes risk-approved intents. ``ref_price`` is the price the intent was sized at
    (the last price live, the next bar's open in a backtest)."""

    async def start(self, link: BrokerLink) -> list[Execution]:
        """Before the bot runs (live: keys, lock, settle what the last run left unresolved,
        reconcile). Returns what settling brought, for the ledger."""
        return []

    @abstractmethod
    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution: ...

    def order_ids(self, bot: str) -> Callable[[], str]:
        """The maker of client order ids for ``bot``'s orders; by default unique across
        restarts (a per-process nonce and a counter). The LIVE broker's carry the bot's hash,
        which reconciliation recognises its orders by."""
        return id_factory(bot[:12])

    async def settle(self, ts: int) -> list[Execution]:
        """Look up the orders whose outcome is not known yet (live brokers); what they brought
        is returned for the ledger. Paper brokers never leave one."""
        return []

    def blocked(self) -> Mapping[str, str]:
        """Symbols on which no new order may be placed now, with why (an order of the bot on
        that symbol is still unresolved: the ledger may miss a fill)."""
        return {}

    def not_ready(self) -> str:
        """Why the bot may not decide at all now ("" when it may): a live bot waits until its
        reconciliation with the exchange has succeeded."""
        return ""

    def reconcile_items(self) -> tuple[ReconcileItem, ...]:
        """Differences with the exchange waiting for the user's choice."""
        return ()

    async def resolve_reconcile(self, item_id: str, action: str) -> tuple[str, list[Execution]]:
        """Carry out the user's choice for one difference; returns what to tell the user and
        what the ledger must record."""
        from .errors import ConfigError  # noqa: PLC0415

        raise ConfigError("this bot is not LIVE: it has nothing to reconcile")

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release network clients and locks. Paper brokers have none."""


def id_factory(prefix: str) -> Callable[[], str]:
    """Client order ids unique across restarts: a random per-process nonce plus a counter."""
    nonce = secrets.token_hex(4)
    counter = itertools.count(1)
    return lambda: f"ox-{prefix}-{nonce}-{next(counter)}"
