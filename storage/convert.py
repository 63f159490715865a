"""Small converters between table rows and the engine's domain objects (and back)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oxbot.engine.models import (
    BotConfig,
    CapitalFlow,
    DecisionRecord,
    EquityPoint,
    Fill,
    Order,
    OrderReason,
    OrderStatus,
    Position,
    RiskState,
    Side,
)

Row = Mapping[str, Any]


def config_to_json(config: BotConfig) -> str:
    # sort_keys: the same config always gives the same text (diffs, exports, tests).
    return json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def config_from_json(text: str) -> BotConfig:
    return BotConfig.model_validate(json.loads(text))


# The keys of each ``*_to_row`` dict, in order: the writer compiles its statements for them
# (storage/compiled.py); tests/storage check that they match the rows.
ORDER_KEYS = (
    "client_order_id",
    "bot_id",
    "bot",
    "symbol",
    "side",
    "qty",
    "reason",
    "status",
    "ts",
    "exchange_order_id",
    "stop_loss",
    "take_profit",
)
FILL_KEYS = (
    "fill_id",
    "client_order_id",
    "bot_id",
    "bot",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "ts",
    "reason",
    "realised",
    "fee_currency",
    "fee_cost",
)
POSITION_KEYS = (
    "bot_id",
    "bot",
    "symbol",
    "side",
    "qty",
    "avg_entry",
    "stop_loss",
    "take_profit",
    "opened_ts",
)


def order_to_row(order: Order, bot_id: int) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "bot_id": bot_id,
        "bot": order.bot,
        "symbol": order.symbol,
        "side": order.side.value,
        "qty": order.qty,
        "reason": order.reason.value,
        "status": order.status.value,
        "ts": order.ts,
        "exchange_order_id": order.exchange_order_id,
        "stop_loss": order.stop_loss,
        "take_profit": order.take_profit,
    }


def order_from_row(row: Row) -> Order:
    return Order(
        client_order_id=row["client_order_id"],
        bot=row["bot"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        reason=OrderReason(row["reason"]),
        status=OrderStatus(row["status"]),
        ts=row["ts"],
        exchange_order_id=row["exchange_order_id"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
    )


def fill_to_row(fill: Fill, bot_id: int) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "bot_id": bot_id,
        "bot": fill.bot,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "fee": fill.fee,
        "ts": fill.ts,
        "reason": fill.reason.value,
        "realised": fill.realised,
        "fee_currency": fill.fee_currency,
        "fee_cost": fill.fee_cost,
    }


def fill_from_row(row: Row) -> Fill:
    return Fill(
        fill_id=row["fill_id"],
        client_order_id=row["client_order_id"],
        bot=row["bot"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        fee=row["fee"],
        ts=row["ts"],
        reason=OrderReason(row["reason"]),
        realised=row["realised"],
        fee_currency=row["fee_currency"],
        fee_cost=row["fee_cost"],
    )


def position_to_row(position: Position, bot_id: int, bot: str) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "bot": bot,
        "symbol": position.symbol,
        "side": position.side,
        "qty": position.qty,
        "avg_entry": position.avg_entry,
        "stop_loss": position.stop_loss,
        "take_profit": position.take_profit,
        "opened_ts": position.opened_ts,
    }


def position_from_row(row: Row) -> Position:
    return Position(
        symbol=row["symbol"],
        qty=row["qty"],
        avg_entry=row["avg_entry"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        opened_ts=row["opened_ts"],
        side=row["side"],
    )


_DECISION_FIELDS = tuple(DecisionRecord.__dataclass_fields__)
DECISION_KEYS = (*_DECISION_FIELDS, "bot_id", "created_ms")


def decision_to_row(record: DecisionRecord, bot_id: int) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _DECISION_FIELDS}
    row["bot_id"] = bot_id
    row["created_ms"] = int(time.time() * 1000)
    return row


def decision_from_row(row: Row) -> DecisionRecord:
    return DecisionRecord(**{name: row[name] for name in _DECISION_FIELDS})


def equity_to_row(point: EquityPoint, bot_id: int) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "bot": point.bot,
        "ts": point.ts,
        "equity": point.equity,
        "cash": point.cash,
    }


def equity_from_row(row: Row) -> EquityPoint:
    return EquityPoint(bot=row["bot"], ts=row["ts"], equity=row["equity"], cash=row["cash"])


def decimal_sum(values: list[Decimal]) -> Decimal:
    """Exact sum (``sum`` starts at int 0, which is fine for Decimal but reads as a float risk)."""
    total = Decimal(0)
    for v in values:
        total += v
    return total


def flow_to_row(flow: CapitalFlow, bot_id: int, created_ms: int) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "bot": flow.bot,
        "ts": flow.ts,
        "amount": flow.amount,
        "capital": flow.capital,
        "equity_before": flow.equity_before,
        "created_ms": created_ms,
    }


def flow_from_row(row: Row) -> CapitalFlow:
    return CapitalFlow(
        row["bot"], int(row["ts"]), row["amount"], row["capital"], row["equity_before"]
    )


def risk_from_row(row: Row) -> RiskState:
    return RiskState(row["peak_equity"], row["day"], row["day_start_equity"])
