"""Capital edits: a deposit or a withdrawal in the ledger, never profit or loss.

Editing a bot's capital (``BotConfig.capital``: what the user put in, net) makes the difference
a ``CapitalFlow``. The engine stores it with the new config in one transaction, rebuilds the
wallet from fills and flows, and publishes what ``capital_changed`` returns: the flow, a Notice,
and a reasoning entry in which the risk manager names what the new equity leaves over a limit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import ConfigError
from .messages import CapitalChanged, DecisionMade, Event, Notice
from .models import BotConfig, CapitalFlow, DecisionRecord

CAPITAL_SOURCE = "capital"  # the source of a capital edit's entry in the reasoning history


def money(x: Decimal) -> str:
    return f"{x:,.2f}"


def capital_flow(old: Any, cfg: BotConfig, now_ms: int) -> CapitalFlow | None:
    """The deposit or withdrawal that editing ``old``'s (a BotRunner's) config to ``cfg``
    makes; None when the capital is unchanged. ConfigError for a withdrawal larger than the
    free cash: positions are never sold for it. ``old.marks`` should hold the last prices."""
    pf = old.portfolio
    amount = cfg.capital - pf.net_deposits
    if not amount:
        return None
    cash = pf.free_cash()
    if -amount > cash:
        raise ConfigError(
            f"{cfg.name}: capital {money(cfg.capital)} would withdraw {money(-amount)}, more "
            f"than its free cash {money(cash)} (the rest is in open positions or was lost); "
            f"set the capital to at least {money(pf.net_deposits - cash)}, or flatten first; "
            "nothing was changed"
        )
    # Just after the newest sample: the samples up to it are before the flow, every later one
    # after it (today's P&L and the chart tell them apart by time).
    ts = old.last_sample_ts + 1 if old.last_sample_ts is not None else now_ms
    return CapitalFlow(old.name, ts, amount, cfg.capital, pf.equity(old.marks))


def capital_changed(r: Any, flow: CapitalFlow) -> tuple[list[Event], DecisionRecord]:
    """What to say after ``flow`` (``r``: the rebuilt BotRunner): the events to publish and the
    reasoning entry to store. The risk manager re-checks the open positions against the new
    equity and names each one over a limit."""
    kind = "deposit" if flow.amount > 0 else "withdrawal"
    head = (
        f"capital {money(flow.capital - flow.amount)} -> {money(flow.capital)}: {kind} "
        f"of {money(abs(flow.amount))} (not profit or loss)"
    )
    over = r.risk.over_limits(r.portfolio, r.marks)
    if over:
        tail = "; over a limit: " + "; ".join(over)
    else:
        tail = "; open positions within the limits" if r.portfolio.positions else ""
    events: list[Event] = [
        CapitalChanged(flow.ts, r.name, flow.amount, flow.capital),
        Notice(flow.ts, "warning" if over else "info", f"{r.name}: {head}{tail}", r.name),
        DecisionMade(flow.ts, r.name, CAPITAL_SOURCE, (), head, "", tuple(over)),
    ]
    record = DecisionRecord(
        r.name, flow.ts, CAPITAL_SOURCE, "", reasoning=head, verdict_reasons="; ".join(over)
    )
    return events, record
