"""The cockpit's Audit screen (tui/screens/audit.py): ``a`` on the dashboard of a REAL engine
opens it and it reads the engine's own database on a worker thread while the engine runs; and
snapshots at 120x40 and 80x24 of a crafted database (tests/support/audit_db.py): one bot that
passes, one that fails on cycles. And the bot form's maximum holding time field."""

from __future__ import annotations

from pathlib import Path

from audit_db import Craft, crafted
from textual.app import App
from textual.widgets import Button, Input
from tui_sim import open_dialog, sim_bots, wait_until

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.audit import AuditScreen
from oxbot.tui.screens.bot_config import BotConfigScreen


async def test_a_opens_the_audit_of_the_running_engines_database(sim_client, tmp_path) -> None:
    client = sim_client(sim_bots(2), 5)
    db = tmp_path / "oxbot0.db"  # the database sim_client gives its first engine
    app = OxbotApp(client, db_path=db)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "AuditScreen", "a")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await wait_until(pilot, lambda: screen.results is not None, "the audit results")
        assert [r.bot for r in screen.results] == ["bot00", "bot01"]
        for r in screen.results:
            assert [c.name for c in r.checks] == [
                "no crashes",
                "SL/TP triggers",
                "capital drift",
                "max holding time",
                "cycles",
            ]
            (cycles,) = [c for c in r.checks if c.name == "cycles"]
            assert not cycles.passed and not r.passed  # 5 candles < 10 cycles
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AuditScreen), "back")


class Host(App[None]):
    def __init__(self, db: Path) -> None:
        super().__init__()
        self._db = db

    def on_mount(self) -> None:
        self.push_screen(AuditScreen(self._db))


def _snap(snap_compare, home: Path, size: tuple[int, int]) -> bool:
    db = Path(crafted(home, Craft(), Craft(name="idle", cycles=3)))
    app = Host(db)

    async def run_before(pilot) -> None:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AuditScreen) and app.screen.results is not None,
            "the audit results",
        )
        await pilot.pause(0.1)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshot_audit_120x40(snap_compare, tmp_path) -> None:
    assert _snap(snap_compare, tmp_path, (120, 40))


def test_snapshot_audit_80x24(snap_compare, tmp_path) -> None:
    assert _snap(snap_compare, tmp_path, (80, 24))


async def test_the_form_takes_a_maximum_holding_time_as_typed(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, BotConfigScreen), "the form")
        screen = app.screen
        await pilot.press(*"timed")  # the name field has focus
        hold = screen.query_one("#f-risk-max_hold_s", Input)
        assert hold.value == ""  # no limit by default
        hold.value = "4x"
        await pilot.pause(0.05)
        assert screen.query_one("#save", Button).disabled
        assert "risk-max_hold_s" in screen.field_errors, screen.field_errors
        hold.value = "4h"
        await pilot.pause(0.05)
        assert not screen.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.05)
        (add,) = [c for c in scripted_client.commands if isinstance(c, m.AddBot)]
        assert add.config.risk.max_hold_s == 4 * 3600
