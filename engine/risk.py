"""The risk manager: the only sizer. Strategies and LLMs propose; this approves, clamps or rejects.

Deterministic and pure: the same decision, wallet and prices always give the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from .models import (
    HUNDRED,
    ZERO,
    Action,
    Decision,
    OrderIntent,
    OrderReason,
    Position,
    RiskLimits,
    RiskState,
    Side,
    SymbolDecision,
    Verdict,
    VerdictStatus,
)
from .portfolio import Portfolio

QTY_STEP = Decimal("0.00000001")
PRICE_STEP = Decimal("0.00000001")
# Kept back per fill when sizing a buy: a fee is rounded to its currency's precision (the paper
# broker to 1e-10, exchanges to the asset's precision, up to 1e-8 for USDT), and a buy that
# spends the cash to the last digit would leave it negative by that rounding.
FEE_ROUNDING = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Exchange limits for one symbol (from ccxt markets; defaults for `sim`)."""

    amount_step: Decimal = QTY_STEP
    price_step: Decimal = PRICE_STEP
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO


DEFAULT_RULES = MarketRules()


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def sellable(qty: Decimal, price: Decimal, rules: MarketRules) -> Decimal:
    """How much of ``qty`` an exchange would take in one sell: floored to its amount step; 0
    when that is below its minimum amount or order value (dust, e.g. what a fee taken in the
    coin bought leaves over)."""
    out = floor_to(qty, rules.amount_step)
    if out <= 0 or out < rules.min_qty or (rules.min_notional and out * price < rules.min_notional):
        return ZERO
    return out


class RiskManager:
    def __init__(
        self,
        limits: RiskLimits,
        fee_rate: Decimal = Decimal("0.001"),
        rules: Callable[[str], MarketRules] | None = None,
    ) -> None:
        self.limits = limits
        self.fee_rate = fee_rate
        self._rules = rules or (lambda _s: DEFAULT_RULES)
        self.peak_equity: Decimal | None = None
        self.day_start_equity: Decimal | None = None
        self._day: int | None = None
        self.changed = False  # the state moved since it was last stored (see ``saved``)
        self.urgent = False  # ... and must be stored now (a new day), not with the next batch

    # ------------------------------------------------------------------ kill switches

    def observe(self, equity: Decimal, ts: int) -> None:
        """Track peak equity and the UTC day's starting equity (for the two kill switches)."""
        day = ts // 86_400_000
        if self._day != day:
            self._day, self.day_start_equity = day, equity
            self.changed = self.urgent = True
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
            self.changed = True

    def state(self) -> RiskState:
        """What the switches remember, to store (a restart or an edit must not forget it)."""
        return RiskState(self.peak_equity, self._day, self.day_start_equity)

    def restore(self, state: RiskState | None) -> None:
        """Continue from a stored ``state`` (None: nothing observed yet)."""
        if state is not None:
            self.peak_equity, self._day = state.peak_equity, state.day
            self.day_start_equity = state.day_start_equity
        self.changed = False

    def saved(self) -> None:
        self.changed = self.urgent = False

    def entry_block(self, equity: Decimal) -> str | None:
        lim = self.limits
        if self.peak_equity and equity < self.peak_equity * (1 - lim.max_drawdown_pct / HUNDRED):
            dd = (1 - equity / self.peak_equity) * HUNDRED
            return f"drawdown kill switch: {dd:.2f}% below peak (limit {lim.max_drawdown_pct}%)"
        if self.day_start_equity and equity < self.day_start_equity * (
            1 - lim.daily_loss_limit_pct / HUNDRED
        ):
            loss = (1 - equity / self.day_start_equity) * HUNDRED
            return f"daily loss limit: -{loss:.2f}% today (limit {lim.daily_loss_limit_pct}%)"
        return None

    def over_limits(self, portfolio: Portfolio, marks: Mapping[str, Decimal]) -> list[str]:
        """What the open positions break at today's equity (after a capital change, say):
        one line per position above max_position_pct, total exposure above
        max_exposure_pct, a kill switch that blocks entries. Empty when all is within."""
        lim = self.limits
        equity = portfolio.equity(marks)
        out = []
        if equity <= 0:
            return [f"equity is {equity:.2f}: every position is over its limit"]
        for sym, pos in sorted(portfolio.positions.items()):
            pct = pos.qty * marks.get(sym, pos.avg_entry) / equity * HUNDRED
            if pct > lim.max_position_pct:
                out.append(
                    f"{sym} position is {pct:.2f}% of equity, above the "
                    f"{lim.max_position_pct}% limit (no new buys of it; sells allowed)"
                )
        exposure = portfolio.exposure(marks) / equity * HUNDRED
        if exposure > lim.max_exposure_pct:
            out.append(
                f"exposure is {exposure:.2f}% of equity, above the "
                f"{lim.max_exposure_pct}% limit (no new entries)"
            )
        block = self.entry_block(equity)
        if block:
            out.append(f"entries blocked: {block}")
        return out

    # ------------------------------------------------------------------ the check

    def check(
        self,
        decision: Decision,
        portfolio: Portfolio,
        marks: Mapping[str, Decimal],
        new_id: Callable[[], str],
    ) -> Verdict:
        reasons: list[str] = []
        intents: list[OrderIntent] = []
        clamped = rejected = False
        equity = portfolio.equity(marks)
        cash = portfolio.cash
        exposure = portfolio.exposure(marks)
        block = self.entry_block(equity)
        buys = sum(i.action is Action.BUY for i in decision.items)

        # Exits first: they free cash and exposure for entries in the same decision.
        ordered = sorted(decision.items, key=lambda i: i.action is Action.BUY)
        for item in ordered:
            sym, act = item.symbol, item.action
            if act is Action.HOLD:
                continue
            price = marks.get(sym)
            pos = portfolio.position(sym)
            if price is None or price <= 0:
                rejected = True
                reasons.append(f"{sym}: no price yet")
                continue
            if act in (Action.CLOSE, Action.SELL):
                if pos is None:
                    rejected = True
                    reasons.append(f"{sym}: {act.value} ignored, no position")
                    continue
                qty = sellable(pos.qty, price, self._rules(sym))
                if qty <= 0:  # what a fee taken in the coin bought leaves: not sellable
                    rejected = True
                    reasons.append(
                        f"{sym}: {act.value} ignored, only {pos.qty} left, below "
                        "the exchange's minimum order"
                    )
                    continue
                if act is Action.SELL and item.size_pct is not None and item.size_pct > 0:
                    want = floor_to(
                        equity * min(item.size_pct, HUNDRED) / HUNDRED / price,
                        self._rules(sym).amount_step,
                    )
                    if ZERO < want < qty:
                        qty = want
                intents.append(
                    OrderIntent(
                        decision.bot,
                        sym,
                        Side.SELL,
                        qty,
                        OrderReason.EXIT,
                        new_id(),
                        limit_price=price,
                    )
                )
                cash += qty * price * (1 - self.fee_rate) - FEE_ROUNDING
                exposure -= qty * price
                equity -= qty * price * self.fee_rate
                reasons.append(f"{sym}: sell {qty} approved")
                continue
            # BUY
            if block:
                rejected = True
                reasons.append(f"{sym}: buy rejected, {block}")
                continue
            intent, why, was_clamped = self._size_entry(
                decision.bot, item, pos, price, equity, cash, exposure, new_id, buys
            )
            reasons.append(why)
            if intent is None:
                rejected = True
                continue
            clamped |= was_clamped
            intents.append(intent)
            notional = intent.qty * price
            cash -= notional * (1 + self.fee_rate) + FEE_ROUNDING
            exposure += notional
        if not intents:
            status = VerdictStatus.REJECTED if rejected else VerdictStatus.APPROVED
        elif clamped or rejected:
            status = VerdictStatus.CLAMPED
        else:
            status = VerdictStatus.APPROVED
        return Verdict(status, tuple(reasons), tuple(intents))

    def _size_entry(
        self,
        bot: str,
        item: SymbolDecision,
        pos: Position | None,
        price: Decimal,
        equity: Decimal,
        cash: Decimal,
        exposure: Decimal,
        new_id: Callable[[], str],
        buys: int = 1,
    ) -> tuple[OrderIntent | None, str, bool]:
        lim, sym = self.limits, item.symbol
        rules = self._rules(sym)
        notes: list[str] = []
        clamped = False
        want_pct = lim.max_position_pct
        if item.size_pct is not None:
            if item.size_pct <= 0:
                return None, f"{sym}: buy rejected, size {item.size_pct}% is not positive", False
            if item.size_pct > lim.max_position_pct:
                clamped = True
                notes.append(f"size {item.size_pct}% clamped to {lim.max_position_pct}%")
            else:
                want_pct = item.size_pct
        held_value = pos.qty * price if pos else ZERO
        # Limits must hold after the fills, whose fees lower equity: with n entries in this
        # decision of at most X each, used + x <= p * (equity - n * X * fee) holds when
        # used + x <= p * equity / (1 + p * n * fee). (``equity`` excludes this decision's exit
        # fees already.)
        fee = self.fee_rate * buys

        def room(pct: Decimal, used: Decimal) -> Decimal:
            p = pct / HUNDRED
            return p * equity / (1 + p * fee) - used

        wanted = room(want_pct, ZERO)
        target = min(wanted, room(lim.max_position_pct, held_value))
        if pos and target < wanted:
            notes.append(f"position already {held_value / equity * HUNDRED:.2f}% of equity")
            clamped = True
        room_exposure = room(lim.max_exposure_pct, exposure)
        if target > room_exposure:
            target = room_exposure
            clamped = True
            notes.append(f"exposure cap {lim.max_exposure_pct}%")
        affordable = (cash - FEE_ROUNDING) / (1 + self.fee_rate)
        if target > affordable:
            target = affordable
            clamped = True
            notes.append("limited by cash")
        qty = floor_to(target / price, rules.amount_step) if target > 0 else ZERO
        notional = qty * price
        min_notional = max(lim.min_notional, rules.min_notional)
        if qty <= 0 or qty < rules.min_qty or notional < min_notional:
            why = "; ".join(notes) or "no room"
            return (
                None,
                f"{sym}: buy rejected, {notional:.2f} below min notional {min_notional} ({why})",
                False,
            )
        sl, tp, stop_notes = self._stops(item, price, rules)
        if sl >= price or tp <= price:
            return (
                None,
                (
                    f"{sym}: buy rejected, price {price} is too coarse for a stop at "
                    f"-{lim.stop_loss_pct}% / +{lim.take_profit_pct}% with step "
                    f"{rules.price_step}"
                ),
                False,
            )
        if stop_notes:
            clamped = True
            notes.extend(stop_notes)
        intent = OrderIntent(bot, sym, Side.BUY, qty, OrderReason.ENTRY, new_id(), sl, tp, price)
        pct = notional / equity * HUNDRED
        head = f"{sym}: buy {qty} (~{pct:.2f}% of equity) SL {sl} TP {tp}"
        return intent, head + (f" [{'; '.join(notes)}]" if notes else ""), clamped

    def _stops(
        self, item: SymbolDecision, price: Decimal, rules: MarketRules
    ) -> tuple[Decimal, Decimal, list[str]]:
        """SL/TP for an entry: the proposal when it is sane, the limit otherwise."""
        lim = self.limits
        notes = []
        floor_sl = price * (1 - lim.stop_loss_pct / HUNDRED)
        sl = item.stop_loss
        if sl is None:
            sl = floor_sl
        elif not floor_sl <= sl < price:
            notes.append(
                f"stop-loss {sl} outside [{floor_sl:.8g}, price) set to -{lim.stop_loss_pct}%"
            )
            sl = floor_sl
        tp = item.take_profit
        default_tp = price * (1 + lim.take_profit_pct / HUNDRED)
        if tp is None:
            tp = default_tp
        elif not price < tp <= price * 2:
            notes.append(
                f"take-profit {tp} not in (price, 2x price] set to +{lim.take_profit_pct}%"
            )
            tp = default_tp
        step = rules.price_step
        if step == PRICE_STEP:  # no exchange tick known (sim): the price's own precision
            exp = price.normalize().as_tuple().exponent
            step = Decimal(1).scaleb(min(int(exp), -2)) if isinstance(exp, int) else step
        sl = (sl / step).to_integral_value(rounding=ROUND_UP) * step
        tp = floor_to(tp, step)
        return sl, tp, notes


def stop_hit(
    pos: Position, low: Decimal, high: Decimal, open_: Decimal | None = None
) -> tuple[OrderReason, Decimal] | None:
    """Did the price range [low, high] reach the position's SL or TP? Returns the reason and the
    fill price: the level itself, or ``open_`` when the range opened beyond it (a gap).
    When both are inside one range the stop-loss wins (the conservative assumption)."""
    if pos.stop_loss is not None and low <= pos.stop_loss:
        px = open_ if open_ is not None and open_ < pos.stop_loss else pos.stop_loss
        return OrderReason.STOP_LOSS, px
    if pos.take_profit is not None and high >= pos.take_profit:
        px = open_ if open_ is not None and open_ > pos.take_profit else pos.take_profit
        return OrderReason.TAKE_PROFIT, px
    return None


def hold_expired(pos: Position, max_hold_s: int | None, ts: int) -> bool:
    """Has ``pos`` been held longer than ``max_hold_s`` at ``ts`` (epoch ms)? None = no limit."""
    return max_hold_s is not None and ts - pos.opened_ts > max_hold_s * 1000


_HOLD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_hold(text: str) -> int | None:
    """A maximum holding time as typed: ``4h``, ``90m``, ``2d``, ``3600`` (seconds) or ``""`` /
    ``none`` (no limit). ValueError for anything else; the range is BotConfig's to check."""
    t = text.strip().lower()
    if t in ("", "none", "off"):
        return None
    unit = _HOLD_UNITS.get(t[-1])
    number = t[:-1] if unit else t
    if not number.isdigit():
        raise ValueError(f"maximum holding time {text!r}: give e.g. 4h, 90m, 2d or seconds")
    return int(number) * (unit or 1)
