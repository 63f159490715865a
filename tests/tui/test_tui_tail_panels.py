"""The Fills and Reasoning panels are tails: they follow the newest line as it arrives, but a
trader who scrolled back to read is not yanked to the bottom by the next line (nor by a scroll
that was already scheduled when they went back)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from textual.app import App, ComposeResult
from tui_pilot import screen_text

from oxbot.engine.messages import OrderFilled
from oxbot.tui.state import ReasoningEntry
from oxbot.tui.widgets.fills_log import FillsLog
from oxbot.tui.widgets.reasoning_panel import ReasoningPanel


def _fills(n: int) -> list[OrderFilled]:
    return [
        OrderFilled(
            ts=1_700_000_000_000 + i * 60_000,
            bot=f"bot{i:02d}",
            symbol="BTC/USDT",
            side="buy" if i % 2 else "sell",
            qty=Decimal("0.01"),
            price=Decimal(60_000 + i),
        )
        for i in range(n)
    ]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FillsLog(id="fills")


class ReasoningApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ReasoningPanel(id="reasoning")


async def test_the_log_follows_new_fills_unless_scrolled_back() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 8)) as pilot:
        log = app.query_one(FillsLog)
        fills = _fills(40)
        log.show(fills[:30], 30)
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # newest in view

        log.show(fills[:32], 32)  # while following: still at the newest, at once
        assert log.scroll_y == log.max_scroll_y
        assert "bot31" in log.lines[-1].text

        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        log.show(fills[:35], 35)  # reading old fills: stays where the reader is
        await pilot.pause()
        assert log.scroll_y == 0 and "bot34" in log.lines[-1].text

        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        log.show(fills, 40)  # back at the bottom: follows again
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y and "bot39" in log.lines[-1].text


def _entries(n: int) -> list[ReasoningEntry]:
    return [
        ReasoningEntry(
            1_700_000_000_000 + i * 60_000,
            "rule",
            f"decision {i:03d}: the fast SMA stays under the slow one",
            (("BTC/USDT", "hold"),),
            "approved",
            (),
            True,
        )
        for i in range(n)
    ]


async def test_reasoning_follows_the_newest_decision_unless_scrolled_back() -> None:
    app = ReasoningApp()
    async with app.run_test(size=(40, 10)) as pilot:
        panel = app.query_one(ReasoningPanel)

        async def at_bottom() -> None:  # the scroll lands a refresh later: wait for it
            for _ in range(100):
                if panel.max_scroll_y > 0 and panel.scroll_y == panel.max_scroll_y:
                    return
                await pilot.pause(0.02)

        panel.show("bot00", _entries(3))
        await at_bottom()
        assert panel.max_scroll_y > 0 and panel.scroll_y == panel.max_scroll_y
        panel.show("bot00", _entries(4))
        await pilot.pause()
        await at_bottom()
        assert panel.scroll_y == panel.max_scroll_y
        assert "decision 003" in screen_text(app)

        panel.action_scroll_home()  # the reader goes back (a smooth scroll)
        for _ in range(100):
            if panel.scroll_y == 0:
                break
            await pilot.pause(0.05)
        assert not panel.following and panel.scroll_y == 0
        panel.show("bot00", _entries(5))  # reading back: it stays there
        await pilot.pause()
        assert panel.scroll_y == 0 and "decision 004" not in screen_text(app)

        panel.show("bot01", _entries(2))  # another bot: follow its newest
        await pilot.pause()
        await at_bottom()
        assert panel.following and panel.scroll_y == panel.max_scroll_y


async def test_a_closing_fill_shows_its_pnl_even_when_it_is_zero() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 8)) as pilot:
        log = app.query_one(FillsLog)
        buy, flat = _fills(2)
        log.show(
            [
                replace(buy, side="buy", reason="entry"),
                replace(flat, side="sell", reason="flatten", realised=Decimal("0")),
            ],
            2,
        )
        await pilot.pause()
        entry, close = (strip.text for strip in log.lines[-2:])
        assert "P&L" not in entry
        assert "FLATTEN P&L 0.00" in close or "FLATTEN P&L +0.00" in close, close
