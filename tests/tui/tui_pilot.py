"""Small helpers for driving the app with Textual's pilot, shared by the TUI test modules
(loaded by conftest.py: importlib mode cannot import test packages)."""

from __future__ import annotations

from oxbot.tui.app import OxbotApp


def screen_text(app: OxbotApp) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def ready(pilot) -> None:
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)
