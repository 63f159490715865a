"""The price panel (c), its symbol key (y) and the closed-trades screen (T), driven through the
REAL engine on the seeded sim market (tests/tui/conftest.py sim_client), plus the chart's
drawing rules on plain data."""

from __future__ import annotations

import pytest
from textual_plotext import PlotextPlot
from tui_pilot import screen_text
from tui_sim import SIM_T0, open_dialog, settle, sim_bots, wait_until

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp
from oxbot.tui.state import DashboardState
from oxbot.tui.widgets.price_chart import PriceChart, PriceData, draw_prices

CANDLES = 61  # at this candle every bot holds a position (seed 7), as in the snapshots


class FixedClock:
    def now_ms(self) -> int:
        return SIM_T0 + CANDLES * 60_000


@pytest.fixture(autouse=True)
def _trailing_window(monkeypatch):
    """The engine starts before the UI subscribes, so the first candles of a max-speed replay
    may be missed (a race of a few candles): keep a trailing window the race never reaches."""
    monkeypatch.setattr("oxbot.tui.state.CANDLES_KEPT", 40)
    monkeypatch.setattr("oxbot.tui.state.EQUITY_POINTS", 50)


def _app(client) -> OxbotApp:
    app = OxbotApp(client, clock=FixedClock())
    app.animation_level = "none"
    return app


async def _price_panel(pilot, *keys: str) -> PriceChart:
    app = pilot.app
    await settle(pilot, CANDLES)
    await pilot.press(*keys)
    chart = app.dashboard.query_one(PriceChart)
    await wait_until(pilot, lambda: chart.display and chart.data is not None, "the price panel")
    return chart


async def test_price_panel_shows_the_selected_bots_symbol_with_its_fills(sim_client):
    app = _app(sim_client(sim_bots(2), CANDLES))
    async with app.run_test(size=(120, 40)) as pilot:
        chart = await _price_panel(pilot, "c")
        assert app.dashboard.selected == "bot00"
        assert chart.data is not None and chart.data.title == "bot00 · BTC/USDT"
        assert "Price · BTC/USDT" in screen_text(app)
        candles = app.state.candles[("bot00", "BTC/USDT")]
        assert chart.data.close[-1] == candles[-1].close
        # the strategy's (sma_cross 5/20) moving averages came with the candles
        assert set(chart.data.mas) == {"sma_5", "sma_20"}
        fills = [f for f in app.state.fills if f.bot == "bot00"]
        assert fills, "seed 7: bot00 traded by candle 61"
        buys = [(f.ts, float(f.price)) for f in fills if f.side == "buy"]
        assert list(chart.data.buys) == buys
        # the open position's SL/TP lines
        pos = app.state.positions[("bot00", "BTC/USDT")]
        assert chart.data.stop_loss == (float(pos.stop_loss) if pos.stop_loss else None)
        assert chart.data.take_profit == (float(pos.take_profit) if pos.take_profit else None)
        await pilot.press("c")  # back to the equity chart
        await pilot.pause(0.1)
        assert not chart.display


async def test_symbol_key_switches_between_the_bots_symbols(sim_client):
    app = _app(sim_client(sim_bots(2), CANDLES))
    async with app.run_test(size=(120, 40)) as pilot:
        chart = await _price_panel(pilot, "j", "y")  # bot01: ETH and SOL; y opens the panel
        await wait_until(pilot, lambda: chart.data.title == "bot01 · ETH/USDT", "ETH first")
        await pilot.press("y")
        await wait_until(pilot, lambda: chart.data.title == "bot01 · SOL/USDT", "then SOL")
        sol = app.state.candles[("bot01", "SOL/USDT")]
        assert chart.data.close[-1] == sol[-1].close
        await pilot.press("y")
        await wait_until(pilot, lambda: chart.data.title == "bot01 · ETH/USDT", "back to ETH")
        await pilot.press("k")  # bot00 keeps its own (only) symbol
        await wait_until(pilot, lambda: chart.data.title == "bot00 · BTC/USDT", "bot00")


async def test_trades_screen_lists_the_round_trips_of_the_bots_fills(sim_client):
    from oxbot.app.trips import round_trips
    from oxbot.tui.screens.trades import as_fills

    app = _app(sim_client(sim_bots(1), 200))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, 200)
        trips = round_trips(as_fills(f for f in app.state.fills if f.bot == "bot00"))
        assert trips, "seed 7: bot00 closed a trade within 200 candles"
        await open_dialog(pilot, "TradesScreen", "T")
        table = app.screen.query_one("#trades-table")
        assert table.row_count == len(trips)
        text = screen_text(app)
        assert f"Closed trades · bot00: {len(trips)}" in text
        assert "Daily P&L" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.dashboard, "back on the dashboard")


def _data(n: int) -> PriceData:
    ts = [SIM_T0 + i * 60_000 for i in range(n)]
    closes = [100.0 + (i % 7) for i in range(n)]
    return PriceData(
        "x",
        ts,
        [c - 0.5 for c in closes],
        [c + 1 for c in closes],
        [c - 1 for c in closes],
        closes,
        buys=[(ts[-3], closes[-3])],
        stop_loss=90.0,
    )


def test_candles_when_they_fit_a_close_line_when_narrow():
    plt = PlotextPlot().plt
    assert draw_prices(plt, _data(100), 100) == "candles"
    assert draw_prices(plt, _data(100), 30) == "line"


def test_candle_events_fold_into_a_bounded_window_per_bot_and_symbol(monkeypatch):
    monkeypatch.setattr("oxbot.tui.state.CANDLES_KEPT", 3)
    st = DashboardState()
    for i in range(5):
        dirty, _ = st.apply(m.CandleClosed(SIM_T0 + i, "a", "BTC/USDT", 1, 2, 0.5, 1.5))
        assert dirty == {"price"}
    assert [c.ts for c in st.candles[("a", "BTC/USDT")]] == [SIM_T0 + 2, SIM_T0 + 3, SIM_T0 + 4]
    st.apply(m.BotRemoved(0, "a"))
    assert not st.candles


def _price_snapshot(snap_compare, sim_client, size: tuple[int, int], *keys: str) -> bool:
    app = _app(sim_client(sim_bots(3), CANDLES))

    async def run_before(pilot) -> None:
        await _price_panel(pilot, *keys)
        app.dashboard.redraw_all()
        await pilot.pause(0.3)
        app.clear_notifications()  # a batch of fill toasts may land late on a loaded machine
        await pilot.pause(0.1)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshot_price_panel_120x40(snap_compare, sim_client):
    """bot00 on BTC: candles, sma_5 and sma_20, its buy marker and its position's SL/TP."""
    assert _price_snapshot(snap_compare, sim_client, (120, 40), "c")


def test_snapshot_price_panel_80x24(snap_compare, sim_client):
    """The compact dashboard: the price panel in the third tab, bot01 on its second symbol."""
    assert _price_snapshot(snap_compare, sim_client, (80, 24), "j", "3", "y", "y")


def test_snapshot_trades_80x24(snap_compare, sim_client):
    app = _app(sim_client(sim_bots(1), 200))

    async def run_before(pilot) -> None:
        await settle(pilot, 200)
        await open_dialog(pilot, "TradesScreen", "T")
        app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
