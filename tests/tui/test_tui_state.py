"""DashboardState folds engine events into what the panels show (no Textual involved)."""

from __future__ import annotations

from decimal import Decimal

from tui_doubles import T0, bot_view

from oxbot.engine import messages as m
from oxbot.engine.models import BotStatus
from oxbot.tui.state import DashboardState


def test_snapshot_then_events_update_totals_positions_and_toasts():
    st = DashboardState()
    st.apply(
        m.EngineSnapshot(
            T0,
            "running",
            (bot_view("a", equity="10100"), bot_view("b", BotStatus.STOPPED, equity="9950")),
            (),
        )
    )
    assert st.total_equity() == Decimal("20050") and st.pnl_today() == Decimal("50")
    pos = m.PositionView(
        "a",
        "BTC/USDT",
        "long",
        Decimal("1"),
        Decimal("100"),
        Decimal("101"),
        Decimal("1"),
        Decimal("95"),
        Decimal("110"),
    )
    dirty, _ = st.apply(m.PositionChanged(T0, "a", "BTC/USDT", pos))
    assert "positions" in dirty and st.positions_of("a") == [pos] and st.positions_of("b") == []
    _, toasts = st.apply(
        m.OrderFilled(
            T0, "a", "BTC/USDT", "sell", Decimal("1"), Decimal("95"), Decimal("0.1"), "stop_loss"
        )
    )
    assert toasts[0].severity == "warning" and "STOP-LOSS" in toasts[0].message
    _, toasts = st.apply(
        m.OrderFilled(
            T0, "a", "BTC/USDT", "sell", Decimal("1"), Decimal("110"), Decimal("0.1"), "take_profit"
        )
    )
    assert "TAKE-PROFIT" in toasts[0].message
    st.apply(m.PositionChanged(T0, "a", "BTC/USDT", None))
    assert st.positions_of(None) == []
    st.apply(m.BotRemoved(T0, "b"))
    assert st.bot_names() == ["a"]


def test_reasoning_streams_then_the_decision_closes_the_entry():
    st = DashboardState()
    st.apply(m.ReasoningStarted(T0, "a", "llm"))
    st.apply(m.ReasoningChunk(T0, "a", "RSI is low, "))
    st.apply(m.ReasoningChunk(T0, "a", "buying."))
    entry = st.reasoning["a"][-1]
    assert entry.text == "RSI is low, buying." and not entry.done
    st.apply(
        m.DecisionMade(
            T0,
            "a",
            "llm",
            (("BTC/USDT", "buy"),),
            "RSI low: buy",
            "clamped",
            ("size clamped to 15%",),
            ("o1",),
        )
    )
    entry = st.reasoning["a"][-1]
    assert entry.done and entry.verdict == "clamped" and entry.text == "RSI low: buy"
    assert entry.verdict_reasons == ("size clamped to 15%",)


def test_command_done_toasts_failures_and_only_loud_successes():
    st = DashboardState()
    st.pending.update({"r1": "PANIC", "r2": "Stop a", "r3": "Start a"})
    st.quiet.add("r2")
    _, t1 = st.apply(m.CommandDone(T0, "r1", "PanicAll", True, "PANIC done: 2 stopped"))
    _, t2 = st.apply(m.CommandDone(T0, "r2", "StopBot", True, ""))
    _, t3 = st.apply(m.CommandDone(T0, "r3", "StartBot", False, "bot a: no such bot"))
    assert t1[0].message == "PANIC done: 2 stopped"
    assert t2 == []
    assert t3[0].severity == "error" and "no such bot" in t3[0].message


def test_market_time_ignores_wall_clock_command_replies():
    st = DashboardState()
    st.apply(m.EquitySampled(T0, "a", Decimal("1"), Decimal("1")))
    st.apply(m.CommandDone(T0 + 10**9, "x", "StopBot", True, ""))
    assert st.engine_ts == T0


def test_bots_are_listed_with_numbers_read_as_numbers() -> None:
    from oxbot.tui.state import natural_key

    names = ["llm11", "llm2", "llm20", "bot10", "bot9", "alpha"]
    assert sorted(names, key=natural_key) == ["alpha", "bot9", "bot10", "llm2", "llm11", "llm20"]
