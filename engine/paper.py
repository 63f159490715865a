"""PaperBroker: fills at the reference price with slippage against the trader and a fee."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from .broker import Broker, Execution, id_factory
from .models import Fill, Order, OrderIntent, OrderStatus, Side

PRICE_Q = Decimal("0.00000001")
FEE_Q = Decimal("0.0000000001")
BPS = Decimal(10_000)


class PaperBroker(Broker):
    def __init__(
        self, fee_rate: Decimal = Decimal("0.001"), slippage_bps: Decimal = Decimal(0)
    ) -> None:
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps

    def fill(self, intent: OrderIntent, price: Decimal, ts: int) -> Fill:
        """The fill a market order gets at ``price`` (sync: backtests call this in a loop)."""
        if self.slippage_bps:
            adj = self.slippage_bps / BPS
            price = price * (1 + adj) if intent.side is Side.BUY else price * (1 - adj)
            price = price.quantize(PRICE_Q, rounding=ROUND_HALF_EVEN)
        fee = (intent.qty * price * self.fee_rate).quantize(FEE_Q, rounding=ROUND_HALF_EVEN)
        return Fill(
            f"{intent.client_order_id}-1",
            intent.client_order_id,
            intent.bot,
            intent.symbol,
            intent.side,
            intent.qty,
            price,
            fee,
            ts,
            intent.reason,
        )

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        f = self.fill(intent, ref_price, ts)
        return Execution(order_from(intent, OrderStatus.FILLED, ts), (f,))


def order_from(
    intent: OrderIntent, status: OrderStatus, ts: int, exchange_order_id: str | None = None
) -> Order:
    return Order(
        intent.client_order_id,
        intent.bot,
        intent.symbol,
        intent.side,
        intent.qty,
        intent.reason,
        status,
        ts,
        exchange_order_id,
        intent.stop_loss,
        intent.take_profit,
    )


__all__ = ["PaperBroker", "id_factory", "order_from"]
