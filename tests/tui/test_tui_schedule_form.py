"""The bot form's schedule fields (tui/screens/bot_config.py): the cron is validated as typed
with its message beside the field, and a valid cron, run_on_start and the retry policy reach
the engine in the one BotConfig the form submits."""

from __future__ import annotations

from textual.widgets import Button, Select

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp

from .test_tui_config_form import _error, _open_new, _set


async def test_schedule_fields_validate_and_are_submitted(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open_new(pilot)
        await pilot.press(*"tick")
        await pilot.pause(0.05)
        await _set(pilot, screen, "#f-cron", "*/30 * * *")
        assert "seconds first" in _error(screen, "cron")
        assert screen.query_one("#save", Button).disabled
        await _set(pilot, screen, "#f-cron", "*/30 * * * * *")
        assert _error(screen, "cron") == ""
        await _set(pilot, screen, "#f-retry_attempts", "0")
        assert _error(screen, "retry_attempts")
        assert screen.query_one("#save", Button).disabled
        await _set(pilot, screen, "#f-retry_attempts", "4")
        await _set(pilot, screen, "#f-retry_delay_s", "30")
        screen.query_one("#f-run_on_start", Select).value = "yes"
        await pilot.pause(0.05)
        assert not screen.query_one("#save", Button).disabled
        screen.action_save()
        await pilot.pause(0.05)
        (add,) = [c for c in scripted_client.commands if isinstance(c, m.AddBot)]
        cfg = add.config
        assert cfg.cron == "*/30 * * * * *" and cfg.run_on_start is True
        assert (cfg.retry_attempts, cfg.retry_delay_s) == (4, 30)
