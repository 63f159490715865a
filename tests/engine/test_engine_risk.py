"""The risk manager sizes, clamps or rejects; its verdict says why."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from oxbot.engine.models import (
    Action,
    Decision,
    OrderReason,
    Position,
    RiskLimits,
    Side,
    SymbolDecision,
    VerdictStatus,
)
from oxbot.engine.paper import PaperBroker
from oxbot.engine.portfolio import Portfolio
from oxbot.engine.risk import MarketRules, RiskManager, stop_hit

D = Decimal
MARKS = {"BTC/USDT": D("50000"), "ETH/USDT": D("2500")}


def ids():  # type: ignore[no-untyped-def]
    c = count()
    return lambda: f"id{next(c)}"


def decide(*items: SymbolDecision) -> Decision:
    return Decision("bot", 0, items)


def test_default_entry_is_15_percent_with_stops_attached() -> None:
    rm = RiskManager(RiskLimits(), D("0.001"))
    v = rm.check(
        decide(SymbolDecision("BTC/USDT", Action.BUY)), Portfolio(D("10000")), MARKS, ids()
    )
    assert v.status is VerdictStatus.APPROVED
    (it,) = v.intents
    assert it.side is Side.BUY and it.reason is OrderReason.ENTRY
    notional = it.qty * MARKS["BTC/USDT"]
    assert D("1490") < notional <= D("1500")
    assert it.stop_loss == D("48250") and it.take_profit == D("53500")  # -3.5 %, +7 %


def test_oversized_request_is_clamped_and_says_so() -> None:
    rm = RiskManager(RiskLimits(), D("0"))
    v = rm.check(
        decide(SymbolDecision("BTC/USDT", Action.BUY, size_pct=D("90"))),
        Portfolio(D("10000")),
        MARKS,
        ids(),
    )
    assert v.status is VerdictStatus.CLAMPED
    assert v.intents[0].qty * MARKS["BTC/USDT"] <= D("1500")
    assert "clamped to 15" in v.reasons[0]


def test_exposure_cap_limits_a_new_entry() -> None:
    pf = Portfolio(D("10000"))
    broker = PaperBroker(D("0"))
    rm = RiskManager(RiskLimits(max_position_pct=D("50"), max_exposure_pct=D("60")), D("0"))
    new = ids()
    for sym in ("BTC/USDT", "ETH/USDT"):
        v = rm.check(decide(SymbolDecision(sym, Action.BUY)), pf, MARKS, new)
        for it in v.intents:
            pf.apply(broker.fill(it, MARKS[sym], 0))
    assert pf.exposure(MARKS) <= D("6000")
    assert "exposure cap" in v.reasons[0]


def test_rejections_name_the_problem() -> None:
    rm = RiskManager(RiskLimits(), D("0.001"))
    pf = Portfolio(D("50"))  # 15 % of 50 is below the 10 USDT minimum notional
    v = rm.check(
        decide(
            SymbolDecision("BTC/USDT", Action.BUY),
            SymbolDecision("ETH/USDT", Action.CLOSE),
            SymbolDecision("SOL/USDT", Action.BUY),
        ),
        pf,
        MARKS,
        ids(),
    )
    assert v.status is VerdictStatus.REJECTED and v.intents == ()
    text = " | ".join(v.reasons)
    assert "below min notional" in text and "no position" in text and "no price" in text


def test_bad_stop_levels_are_replaced_by_the_limits() -> None:
    rm = RiskManager(RiskLimits(), D("0"))
    v = rm.check(
        decide(
            SymbolDecision("BTC/USDT", Action.BUY, stop_loss=D("51000"), take_profit=D("40000"))
        ),
        Portfolio(D("10000")),
        MARKS,
        ids(),
    )
    it = v.intents[0]
    assert it.stop_loss == D("48250") and it.take_profit == D("53500")
    assert v.status is VerdictStatus.CLAMPED


def test_market_precision_and_minimums_apply() -> None:
    rules = MarketRules(amount_step=D("0.001"), min_notional=D("5000"))
    rm = RiskManager(RiskLimits(), D("0.001"), rules=lambda _s: rules)
    v = rm.check(
        decide(SymbolDecision("BTC/USDT", Action.BUY)), Portfolio(D("10000")), MARKS, ids()
    )
    assert v.status is VerdictStatus.REJECTED and "min notional 5000" in v.reasons[0]
    v = rm.check(
        decide(SymbolDecision("BTC/USDT", Action.BUY)), Portfolio(D("100000")), MARKS, ids()
    )
    assert v.intents[0].qty == D("0.299")  # ~14 998 / 50 000 floored to the 0.001 step


def test_kill_switches_block_entries_but_not_exits() -> None:
    rm = RiskManager(RiskLimits(max_drawdown_pct=D("10")), D("0"))
    rm.observe(D("10000"), 0)
    rm.observe(D("8900"), 1000)
    pf = Portfolio(D("8900"))
    v = rm.check(decide(SymbolDecision("BTC/USDT", Action.BUY)), pf, MARKS, ids())
    assert v.status is VerdictStatus.REJECTED and "drawdown kill switch" in v.reasons[0]
    daily = RiskManager(RiskLimits(daily_loss_limit_pct=D("2")), D("0"))
    daily.observe(D("10000"), 86_400_000)
    daily.observe(D("9700"), 86_400_000 + 5)
    v = daily.check(
        decide(SymbolDecision("BTC/USDT", Action.BUY)), Portfolio(D("9700")), MARKS, ids()
    )
    assert "daily loss limit" in v.reasons[0]


def test_stop_hit_prefers_stop_loss_and_fills_gaps_at_the_open() -> None:
    pos = Position("BTC/USDT", D("1"), D("100"), D("96"), D("107"), 0)
    assert stop_hit(pos, D("97"), D("106")) is None
    assert stop_hit(pos, D("95"), D("108")) == (OrderReason.STOP_LOSS, D("96"))
    assert stop_hit(pos, D("90"), D("93"), D("93")) == (OrderReason.STOP_LOSS, D("93"))
    assert stop_hit(pos, D("100"), D("107")) == (OrderReason.TAKE_PROFIT, D("107"))
