"""Attached, q is Detach everywhere (footer, help, palette) and asks nothing: the headless engine
keeps running. A theme whose value breaks the stylesheet falls back with a notice and never ends
the cockpit, nor the engine it hosts (the REAL engine here). A broken settings.json is said in
the cockpit, not only in the scrollback the cockpit covers."""

from __future__ import annotations

from pathlib import Path

import pytest
import tui_doubles as d
from textual.theme import Theme
from tui_pilot import drawn, notifications, ready, screen_text
from tui_sim import sim_bots, wait_until

from oxbot.engine import messages as m
from oxbot.tui import app as tui_app
from oxbot.tui.app import OxbotApp
from oxbot.tui.commands import OxbotCommands
from oxbot.tui.screens.help import HelpScreen


class Attached(d.ScriptedEngineClient):
    @property
    def attached(self) -> bool:
        return True


def footer_text(app: OxbotApp) -> str:
    return screen_text(app).splitlines()[-1]


async def test_attached_q_is_detach_in_the_footer_help_and_palette(fixed_clock) -> None:
    client = Attached([d.bot_view("alpha")])
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.pause(0.4)
        assert "q Detach" in footer_text(app) and "Quit" not in footer_text(app)
        labels = [label for label, _key, _run in OxbotCommands(app.screen)._commands()]
        assert any(label.startswith("Detach") for label in labels), labels
        assert not any(label.startswith("Quit") for label in labels), labels
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "app.detach" in text and "Detach: close this cockpit" in text
        assert "app.quit" not in text
        await pilot.press("escape")
        await pilot.press("q")  # alpha is running, but on the headless engine: no question
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
    assert client.stopped  # the socket client closed; the engine itself was never told to stop


async def test_in_process_q_is_quit(scripted_client, fixed_clock) -> None:
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.pause(0.4)
        assert "q Quit" in footer_text(app) and "Detach" not in footer_text(app)


async def test_a_theme_that_breaks_the_stylesheet_falls_back_and_the_engine_lives(
    sim_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    # passes a colour check on the face of it, but it is not one CSS value
    (themes / "broken.toml").write_text(
        'name = "broken"\nprimary = "#112233"\n[variables]\nfooter-key-foreground = "rgb(1,2"\n'
    )

    class Settings:
        theme = "broken"
        keymap: dict[str, str] = {}
        themes_dir = themes

    # and one that slips past the loader (as if its check had missed it): switching to it
    sneaky = Theme(name="sneaky", primary="#112233", variables={"footer-key-foreground": "rgb(1,2"})
    load = tui_app.load_user_themes

    def lenient_load(path: Path | str | None) -> tuple[list[Theme], list[str]]:
        themes, notices = load(path)
        return [*themes, sneaky], notices

    monkeypatch.setattr(tui_app, "load_user_themes", lenient_load)
    client = sim_client(sim_bots(1), 40)
    app = OxbotApp(client, settings=Settings())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "bot00" in app.state.bots, "the engine's bot")
        assert app.theme == "oxbot-dark"
        notes = [n.message for n in notifications(app)]
        assert any("broken.toml skipped" in n and "footer-key-foreground" in n for n in notes), (
            notes
        )
        await pilot.press("t", "t", "t")  # oxbot-light, oxbot-contrast, sneaky
        await wait_until(
            pilot,
            lambda: any("'sneaky' breaks the stylesheet" in n.message for n in notifications(app)),
            "the notice",
        )
        await wait_until(pilot, lambda: app.theme == "oxbot-dark", "the fallback")
        assert app.is_running
        assert client.engine is not None and client.engine.state == "running"
        rid = app.send(m.RequestSnapshot(), "snapshot", quiet=True)  # the engine answers
        await wait_until(pilot, lambda: rid not in app.state.pending, "the engine's answer")


async def test_a_broken_settings_file_is_said_in_the_cockpit(
    scripted_client, fixed_clock, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_bytes(b'{"theme": "oxbot-light\xff"}')
    from oxbot.cli.tui import _settings

    settings, notices = _settings()
    app = OxbotApp(scripted_client, settings=settings, clock=fixed_clock, notices=notices)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        notes = [n.message for n in notifications(app)]
        assert any("is not UTF-8 text" in n and "settings.json" in n for n in notes), notes
        assert app.theme == "oxbot-dark"


async def test_a_saved_theme_that_breaks_the_stylesheet_falls_back_before_the_first_frame(
    scripted_client, fixed_clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved theme is applied before any screen exists (tui/app.py ``_parse_css_first``
    parses the stylesheet in place there); one that breaks it falls back with the notice, and
    the dashboard is drawn in the default theme (it used to stay blank: the first screen parsed
    the stylesheet with the broken values before the fallback's refresh came round)."""
    sneaky = Theme(name="sneaky", primary="#112233", variables={"footer-key-foreground": "rgb(1,2"})
    load = tui_app.load_user_themes
    monkeypatch.setattr(tui_app, "load_user_themes", lambda p: ([sneaky], load(p)[1]))

    class Settings:
        theme = "sneaky"
        keymap: dict[str, str] = {}
        themes_dir = tmp_path

    app = OxbotApp(scripted_client, settings=Settings(), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        notes = [n.message for n in notifications(app)]
        assert any("'sneaky' breaks the stylesheet" in n for n in notes), notes
        assert app.theme == "oxbot-dark" and app.is_running
        await drawn(pilot, lambda: "Round trips" in screen_text(app), "the dashboard")
