"""The dashboard panels: the reasoning panel follows the newest decision (also
after being hidden in the compact layout), fills lines are never cut at 120 columns."""

from __future__ import annotations

from decimal import Decimal

from textual import events
from tui_doubles import T0
from tui_pilot import drawn, notifications, screen_text
from tui_pilot import ready as _ready

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp
from oxbot.tui.widgets.reasoning_panel import ReasoningPanel


def _decision(i: int) -> m.DecisionMade:
    return m.DecisionMade(
        T0 + i * 60_000,
        "alpha",
        "rules",
        (("BTC/USDT", "hold"),),
        f"decision number {i:03d}: the fast SMA stays under the slow one, so nothing to do for now",
        "",
    )


async def test_reasoning_follows_newest_decision_at_80x24(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        for i in range(6):  # while the Reasoning tab is hidden
            scripted_client.emit(_decision(i))
            await pilot.pause(0.05)
        await pilot.press("2")
        await pilot.pause(0.2)
        assert "decision number 005" in screen_text(app)
        for i in range(6, 14):  # while it shows, one decision at a time
            scripted_client.emit(_decision(i))
            await pilot.pause(0.15)
            assert f"decision number {i:03d}" in screen_text(app), i
        panel = app.screen.query_one(ReasoningPanel)
        panel.action_scroll_home()  # the user reads back: new decisions leave it there
        await pilot.press("1", "2")
        await pilot.pause(0.1)
        scripted_client.emit(_decision(14))
        await pilot.pause(0.2)
        assert "decision number 014" not in screen_text(app)


async def test_user_scrolling_up_stops_following(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        await pilot.press("2")
        for i in range(12):
            scripted_client.emit(_decision(i))
        await pilot.pause(0.3)
        panel = app.screen.query_one(ReasoningPanel)
        assert panel.following
        panel.post_message(events.MouseScrollUp(panel, 1, 1, 0, -1, 0, False, False, False))
        await pilot.pause(0.2)
        assert not panel.following
        panel.scroll_end(animate=False)
        await pilot.pause(0.2)
        assert panel.following  # back at the bottom: follows again


async def test_fill_lines_are_whole_at_120x40(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        scripted_client.emit(
            m.OrderFilled(
                T0,
                "demo-llm",
                "BTC/USDT",
                "sell",
                Decimal("0.01581948"),
                Decimal("63250.4"),
                Decimal("1.2"),
                "stop_loss",
                Decimal("-12.34"),
            )
        )
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "STOP-LOSS" in text and "P&L -12.34" in text and "63,250" in text
        assert "0.015819 BTC" in text  # rounded, the common quote left out
        toast = [n.message for n in notifications(app) if n.title == "stop-loss"]
        assert toast and "0.015819 BTC" in toast[0]


async def test_tables_fit_at_120_columns(fixed_clock):
    import tui_doubles as d

    from oxbot.tui.widgets.bots_table import COLUMNS

    bots = [
        d.bot_view(
            f"demo-bot-{i:02d}",
            equity="10250.50",
            positions=1,
            trades=4,
            strategy="llm",
            symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"),
            llm=m.LlmFigures(model="offline-rules", cost_today=Decimal("0.12"), failure_rate=0.05),
        )
        for i in range(3)
    ]
    positions = [
        m.PositionView(
            f"demo-bot-{i:02d}",
            "BTC/USDT",
            "long",
            Decimal("0.01581948"),
            Decimal("63250.4"),
            Decimal("63300.1"),
            Decimal("-12.34"),
            Decimal("61985.5"),
            Decimal("65148.2"),
        )
        for i in range(3)
    ]
    client = d.ScriptedEngineClient(bots, positions)
    app = OxbotApp(client, clock=fixed_clock)
    labels = {label for _, label, _ in COLUMNS}
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("escape")  # positions of every bot: the widest table
        await pilot.pause(0.2)
        lines = screen_text(app).splitlines()
        head = next(line for line in lines if " Bot " in line and "Status" in line)
        shown = [t.strip() for t in head.strip("│ ").split("  ") if t.strip()]
        assert shown and set(shown) <= labels, shown  # whole labels only, none cut
        assert head.rstrip().endswith("│")
        text = "\n".join(lines)
        assert "SL" in text and "TP" in text and "65,148" in text  # TP not cut off
        for line in lines:
            assert "▌" not in line


def _fill(i: int, reason: str = "entry") -> m.OrderFilled:
    return m.OrderFilled(
        T0 + i,
        "alpha",
        "BTC/USDT",
        "buy" if reason == "entry" else "sell",
        Decimal("0.01"),
        Decimal(60000 + i),
        Decimal("0.6"),
        reason,
    )


def _trade_toasts(app: OxbotApp) -> list[str]:
    return [
        n.message
        for n in notifications(app)
        if n.title in ("fill", "fills", "stop-loss", "take-profit")
    ]


async def test_plain_fills_are_not_toasted_while_the_fills_panel_shows(
    scripted_client, fixed_clock
):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        seen = app.state.fills_total
        for i in range(3):
            scripted_client.emit(_fill(i))
        await drawn(pilot, lambda: app.state.fills_total == seen + 3, "the three fills handled")
        assert _trade_toasts(app) == []  # the Fills panel shows them
        await drawn(pilot, lambda: "alpha BUY" in screen_text(app), "the Fills panel")
        scripted_client.emit(_fill(9, "stop_loss"))
        # trade toasts are held and shown together (at most every 2 s): the first shown is all
        toasts = await drawn(pilot, lambda: _trade_toasts(app), "a trade toast")
        assert len(toasts) == 1 and "STOP-LOSS" in toasts[0]


async def test_no_fill_toasts_over_a_dialog(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:  # compact: Fills panel hidden
        await _ready(pilot)
        await pilot.press("n")
        await pilot.pause(0.1)
        seen = app.state.fills_total
        for i in range(3):
            scripted_client.emit(_fill(i))
        await drawn(pilot, lambda: app.state.fills_total == seen + 3, "the three fills handled")
        assert _trade_toasts(app) == []  # would sit on Cancel/Save
        await pilot.press("escape")
        await pilot.pause(0.1)
        scripted_client.emit(_fill(5))
        # held trade toasts are shown together: had the three been kept, they would come first
        # or in one "4 fills" toast with this one
        await drawn(pilot, lambda: _trade_toasts(app), "a trade toast")
        toasts = [n for n in notifications(app) if n.title in ("fill", "fills")]
        assert len(toasts) == 1 and toasts[0].title == "fill"  # Fills tab hidden: toasted


async def test_fills_that_arrive_while_their_panel_is_hidden_are_drawn_when_shown(
    scripted_client, fixed_clock
):
    """At 80 columns one panel shows at a time: fills written to the hidden Fills panel were
    wrapped at width 0 and stayed blank, also after widening the terminal."""
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        await pilot.press("4")  # the Fills tab once (its size is known from then on)
        await pilot.pause(0.2)
        await pilot.press("1")  # the Positions tab: Fills hidden
        await pilot.pause(0.2)
        for i in range(3):
            scripted_client.emit(_fill(i))
        await pilot.pause(0.3)
        await pilot.press("4")  # the Fills tab
        await pilot.pause(0.3)
        assert screen_text(app).count("alpha BUY") == 3
        await pilot.press("1")
        scripted_client.emit(_fill(7))
        await pilot.pause(0.3)
        await pilot.resize_terminal(120, 40)  # wide: every panel shows
        await pilot.pause(0.5)
        assert screen_text(app).count("alpha BUY") == 4


async def test_an_attached_cockpit_that_lost_its_engine_does_not_show_bots_running(
    scripted_client, fixed_clock
):
    """After `oxbot stop`, an attached cockpit kept every row at "▶ running" with a "Next in":
    the rows are the engine's last word, so the status says it is unknown now."""
    from oxbot.remote.client import DISCONNECTED
    from oxbot.tui.widgets.bots_table import LOST_STATUS

    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        assert "running" in screen_text(app)
        scripted_client.emit(
            m.EngineStateChanged(T0, DISCONNECTED, "lost the connection to the engine")
        )
        await pilot.pause(0.3)
        rows = [line for line in screen_text(app).splitlines() if LOST_STATUS in line]
        assert len(rows) == len(app.state.bots) > 0
        assert "running" not in screen_text(app)  # neither the rows nor the header's count


async def test_a_failing_llm_bot_says_why_on_its_row_at_120_columns(fixed_clock):
    """'LLM failing' lengthens the status; the column that says why (spend / failure rate /
    last failure) must not be the one dropped to make room: the last decision time goes."""
    import tui_doubles as d

    failing = m.LlmFigures(
        model="llama3",
        cost_today=Decimal(0),
        failure_rate=1.0,
        last_failure="could not reach ollama",
        last_failure_kind="unreachable",
    )
    bots = [
        d.bot_view("llm2", strategy="llm", llm=failing),
        d.bot_view("trend", strategy="sma_cross"),
    ]
    app = OxbotApp(d.ScriptedEngineClient(bots, []), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        row = next(line for line in screen_text(app).splitlines() if "llm2" in line)
        assert "LLM failing" in row and "100% ✗ unreachable" in row, row
