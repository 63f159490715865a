"""The broker contract: paper and live brokers both pass tests/engine/test_broker_contract.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal

from .models import Fill, Order, OrderIntent


@dataclass(frozen=True, slots=True)
class Execution:
    """The outcome of one intent: the order as it now stands, and any fills it produced."""

    order: Order
    fills: tuple[Fill, ...]


class Broker(ABC):
    """Executes risk-approved intents. ``ref_price`` is the price the intent was sized at
    (the last price live, the next bar's open in a backtest)."""

    @abstractmethod
    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution: ...

    @property
    def unsettled(self) -> bool:
        """True while an order's outcome is unknown (a fault hid it): the bot then does not
        decide anew, since its ledger may miss a fill."""
        return False

    async def settle_pending(self, ts: int) -> list[Execution]:
        """Orders whose outcome a fault left unknown, looked up again at the start of a cycle
        (live brokers). Paper brokers never leave one."""
        return []

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release network clients. Paper brokers have none."""
