"""Past decisions in the cockpit (tui/screens/decision.py): ``d`` on the Audit screen lists the
stored decisions of a real database (written with the real Store API), newest first; ``enter``
on one opens its detail: verdict, parsed decision, the whole prompt and raw reply (a long
prompt is wrapped and scrolls, its last line is reachable). A snapshot of the detail at
120x40 over fixed data."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal
from pathlib import Path

from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static
from tui_sim import wait_until

from oxbot.engine.models import BotConfig, BotStatus, DecisionRecord
from oxbot.storage.store import Store
from oxbot.tui.screens.audit import AuditScreen
from oxbot.tui.screens.decision import DecisionScreen, DecisionsScreen

T0 = 1_760_000_000_000  # 2025-10-09 08:53:20 UTC
PROMPT = "\n".join(
    [
        "You trade BTC/USDT spot on 1h candles. Reply with JSON only.",
        *(
            f"candle {i}: open 100.{i:02d} high 101.{i:02d} low 99.{i:02d} close 100.5"
            for i in range(60)
        ),
        "END OF PROMPT",
    ]
)
REPLY = json.dumps(
    {
        "analysis": "Momentum turned up after a higher low; a small entry with a tight stop.",
        "decisions": [
            {
                "symbol": "BTC/USDT",
                "action": "buy",
                "size_pct": 10,
                "stop_loss": 98.5,
                "take_profit": 104,
                "confidence": 0.62,
                "reasoning": "higher low, volume rising",
            }
        ],
    }
)


def records() -> list[DecisionRecord]:
    llm = DecisionRecord(
        "gpt",
        T0,
        "llm",
        "BTC/USDT:buy",
        reasoning="Momentum turned up after a higher low; a small entry with a tight stop.",
        verdict="clamped",
        verdict_reasons="BTC/USDT: buy 9.5 (~9.50% of equity) SL 98.50 TP 104.00 [limited by cash]",
        order_ids="gpt-7",
        provider="openai",
        model="gpt-4o-mini",
        prompt_hash="ab12",
        prompt=PROMPT,
        raw_reply=REPLY,
        parsed=REPLY,
        tokens_in=1830,
        tokens_out=96,
        cost=Decimal("0.0003321"),
        latency_ms=840,
    )
    rule = DecisionRecord(
        "sma",
        T0 - 3_600_000,
        "rule",
        "BTC/USDT:close",
        verdict="approved",
        verdict_reasons="BTC/USDT: sell 0.5 approved",
        order_ids="sma-3",
    )
    return [llm, rule]


async def _craft(db: Path) -> None:
    store = await Store.open(db)
    try:
        for name in ("gpt", "sma"):
            await store.add_bots([BotConfig(name=name, timeframe="1h")], BotStatus.STOPPED)
        for r in records():
            await store.record_cycle(r.bot, decision=r)
    finally:
        await store.close()


def crafted(tmp: Path) -> Path:
    db = tmp / "decisions.db"
    asyncio.run(_craft(db))
    return db


class Host(App[None]):
    def __init__(self, db: Path) -> None:
        super().__init__()
        self._db = db

    def on_mount(self) -> None:
        self.push_screen(AuditScreen(self._db))


async def _open_first(pilot) -> DecisionsScreen:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit screen")
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, DecisionsScreen), "the list")
    screen = app.screen
    await wait_until(pilot, lambda: screen.records is not None, "the decisions read")
    await pilot.pause(0.05)
    return screen


async def test_d_lists_the_decisions_and_enter_shows_one_whole(tmp_path) -> None:
    db = tmp_path / "decisions.db"
    await _craft(db)
    app = Host(db)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_first(pilot)
        assert [(d.bot, d.source) for d in screen.records] == [("gpt", "llm"), ("sma", "rule")]
        assert screen.query_one(DataTable).row_count == 2
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the detail")
        detail = app.screen
        assert detail.record.bot == "gpt"
        shown = [str(s.render()) for s in detail.query(Static)]
        text = "\n".join(shown)
        for head in ("Verdict", "Parsed decision", "Prompt", "Raw reply"):
            assert head in shown, shown
        assert PROMPT in text  # the whole prompt, not cut
        assert REPLY in text
        assert "limited by cash" in text and '"size_pct": 10' in text
        scroll = detail.query_one("#decision-scroll", VerticalScroll)
        await pilot.pause(0.05)
        assert scroll.max_scroll_y > 0  # longer than the screen: it scrolls
        await pilot.press("end")
        await wait_until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, "the end")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionsScreen), "back")
        # the rule decision: no prompt, its actions as the parsed decision
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the rule's")
        text = "\n".join(str(s.render()) for s in app.screen.query(Static))
        assert "actions: BTC/USDT:close" in text and "a rule decides without a prompt" in text


async def test_no_decisions_says_so(tmp_path) -> None:
    db = tmp_path / "empty.db"
    store = await Store.open(db)
    await store.close()
    app = Host(db)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_first(pilot)
        assert screen.records == []
        assert str(screen.query_one("#decisions-note", Static).render()) == (
            "no decisions stored yet"
        )


def test_snapshot_decision_detail_120x40(snap_compare, tmp_path) -> None:
    app = Host(crafted(tmp_path))

    async def run_before(pilot) -> None:
        await _open_first(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the detail")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_decision_detail_80x24(snap_compare, tmp_path) -> None:
    app = Host(crafted(tmp_path))

    async def run_before(pilot) -> None:
        await _open_first(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the detail")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_decision_list_80x24(snap_compare, tmp_path) -> None:
    app = Host(crafted(tmp_path))

    async def run_before(pilot) -> None:
        await _open_first(pilot)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_a_reply_as_long_as_the_ledger_keeps_is_marked_where_it_may_be_cut(
    tmp_path,
) -> None:
    """adv15b F12: engine/llm/strategy.py stores the first CAP (8,000) characters of a prompt
    and a raw reply (``[:CAP]``), and not the original length: a text of exactly CAP
    characters may have been cut, and the detail says so where it ends; a shorter one not."""
    from oxbot.engine.llm.strategy import CAP

    long_reply = ('{"analysis": "' + "x" * 20_000)[:CAP]
    db = tmp_path / "cut.db"
    store = await Store.open(db)
    await store.add_bots([BotConfig(name="gpt", timeframe="1h")], BotStatus.STOPPED)
    rec = records()[0]
    await store.record_cycle("gpt", decision=dataclasses.replace(rec, raw_reply=long_reply))
    await store.close()
    app = Host(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_first(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the detail")
        shown = [str(s.render()) for s in app.screen.query(Static)]
        assert "Raw reply (may be cut at 8,000 characters)" in shown, shown
        assert "Prompt" in shown  # the short prompt is whole: no mark
        text = "\n".join(shown)
        assert (
            long_reply + "\n[… may be cut here: the ledger keeps the first 8,000 characters]"
            in text
        )


async def _many(db: Path) -> None:
    store = await Store.open(db)
    try:
        for name in ("busy", "quiet"):
            await store.add_bots([BotConfig(name=name, timeframe="1m")], BotStatus.STOPPED)
        for i in range(3):  # the quiet bot's decisions are the oldest
            await store.record_cycle(
                "quiet", decision=DecisionRecord("quiet", T0 + i * 60_000, "rule", "hold")
            )
        for i in range(510):
            await store.record_cycle(
                "busy",
                decision=DecisionRecord("busy", T0 + (10 + i) * 60_000, "rule", "hold"),
            )
    finally:
        await store.close()


async def test_the_list_counts_every_decision_and_filters_by_bot(tmp_path) -> None:
    """adv15b F12: 'newest 500 of N decisions' (N counted in the database), and a bot picked
    in the filter (keyboard: focus it, enter, down, enter) lists that bot's own decisions,
    also when the newest 500 of all bots hold none of them."""
    from textual.widgets import Select

    db = tmp_path / "many.db"
    await _many(db)
    app = Host(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_first(pilot)
        note = screen.query_one("#decisions-note", Static)
        assert str(note.render()).startswith("newest 500 of 513 decisions"), note.render()
        assert {d.bot for d in screen.records} == {"busy"}
        select = screen.query_one("#decisions-bot", Select)
        select.focus()
        await pilot.pause(0.05)
        await pilot.press("enter")  # open the choices: all bots, busy, quiet
        await pilot.pause(0.05)
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: screen.bot == "quiet", "the filter")
        await wait_until(
            pilot, lambda: screen.records and screen.records[0].bot == "quiet", "quiet's read"
        )
        assert [d.bot for d in screen.records] == ["quiet"] * 3
        assert str(note.render()) == "3 decisions of quiet"
        assert screen.query_one(DataTable).row_count == 3
