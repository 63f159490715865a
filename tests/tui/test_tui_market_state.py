"""What the cockpit shows of the market and the exchange: the stored equity history merged with
live samples, stale prices and breaker pauses, and the LIVE reconcile screen."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from textual.widgets import Button, Static
from tui_doubles import T0, bot_view

from oxbot.engine import messages as m
from oxbot.engine.models import BotStatus
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.reconcile import ReconcileScreen
from oxbot.tui.state import DashboardState


def test_equity_history_is_merged_under_live_samples() -> None:
    st = DashboardState()
    st.apply(m.EngineSnapshot(T0, "running", (bot_view("alpha"),), ()))
    assert st.history_wanted == {"alpha"}
    st.apply(m.EquitySampled(T0 + 120_000, "alpha", Decimal("10100")))
    dirty, _ = st.apply(
        m.EquityHistory(
            T0,
            "alpha",
            (
                (T0, Decimal("10000")),
                (T0 + 60_000, Decimal("10050")),
                (T0 + 120_000, Decimal("10099")),
            ),
        )
    )  # a stored point the live sample supersedes
    assert "equity" in dirty
    assert list(st.equity["alpha"]) == [
        (T0, 10000.0),
        (T0 + 60_000, 10050.0),
        (T0 + 120_000, 10100.0),
    ]


async def test_the_app_asks_each_bots_history_once(scripted_client, fixed_clock) -> None:
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        scripted_client.emit(m.BotStateChanged(T0, scripted_client.bots["alpha"]))
        await pilot.pause(0.1)
        asked = sorted(
            c.bot for c in scripted_client.commands if isinstance(c, m.RequestEquityHistory)
        )
        assert asked == ["alpha", "beta"]
        assert any(isinstance(c, m.RequestReconcile) for c in scripted_client.commands)


async def test_stale_prices_and_breaker_pause_are_spelled_out(scripted_client, fixed_clock) -> None:
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        alpha = scripted_client.bots["alpha"]
        scripted_client.emit(
            m.BotStateChanged(
                T0,
                replace(
                    alpha,
                    status=BotStatus.PAUSED,
                    stale_symbols=("BTC/USDT",),
                    pause_reason="binance unreachable: 5xx",
                ),
            )
        )
        await pilot.pause(0.5)
        app.dashboard.redraw_all()
        await pilot.pause(0.1)
        warning = str(app.dashboard.query_one("#market-warning", Static).render())
        assert "stale prices" in warning and "BTC/USDT (alpha)" in warning
        assert "paused by the market: alpha" in warning and "binance unreachable" in warning
        table = app.dashboard.query_one("#bots")
        assert table.row_text("alpha")["status"] == "⏸ paused: binance unreachable · stale"
        await pilot.press("k")  # select alpha
        await pilot.pause(0.1)
        title = str(app.dashboard.query_one("#reasoning").border_title)
        assert "paused: binance unreachable: 5xx" in title and "stale price: BTC/USDT" in title


ITEMS = (
    m.ReconcileItem(
        "orphan:c1",
        "orphan",
        "BTC/USDT",
        "exchange order 77 (c1) is open but unknown to the database",
    ),
    m.ReconcileItem(
        "balance:BTC/USDT",
        "balance",
        "BTC/USDT",
        "the ledger holds 0 BTC, the exchange 0.25",
        ("ignore",),
    ),
)


async def test_reconcile_screen_sends_choices_and_follows_the_engine(
    scripted_client, fixed_clock
) -> None:
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        scripted_client.emit(m.ReconcileFound(T0, "alpha", ITEMS))
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ReconcileScreen)
        assert screen.query_one("#adopt-r0", Button)  # orphan: adopt offered
        assert not screen.query("#adopt-r1")  # balance: ignore only
        await pilot.click("#adopt-r0")
        await pilot.pause(0.1)
        sent = [c for c in scripted_client.commands if isinstance(c, m.ResolveReconcile)]
        assert [(c.bot, c.item_id, c.action) for c in sent] == [("alpha", "orphan:c1", "adopt")]
        # the engine answers with the list that is left
        scripted_client.emit(m.ReconcileFound(T0, "alpha", ITEMS[1:]))
        await pilot.pause(0.2)
        assert "1 difference" in str(screen.query_one("#reconcile-title", Static).render())
        await pilot.press("I")  # ignore all
        await pilot.pause(0.1)
        sent = [c for c in scripted_client.commands if isinstance(c, m.ResolveReconcile)]
        assert (sent[-1].item_id, sent[-1].action) == ("balance:BTC/USDT", "ignore")
        scripted_client.emit(m.ReconcileFound(T0, "alpha", ()))
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ReconcileScreen)
        assert app.state.reconcile == {}
