"""Small helpers for driving the app with Textual's pilot, shared by the TUI test modules
(loaded by conftest.py: importlib mode cannot import test packages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple
from weakref import WeakKeyDictionary

from waiting import wait_for

from oxbot.tui.app import OxbotApp


class Note(NamedTuple):
    """One toast as the app asked for it (App.notify's arguments)."""

    message: str
    title: str
    severity: str


_NOTES: WeakKeyDictionary[OxbotApp, list[Note]] = WeakKeyDictionary()


def notifications(app: OxbotApp) -> list[Note]:
    """The toasts the app showed since it started or last cleared them (conftest records them
    through the public App.notify, so no test reads Textual's private list)."""
    return _NOTES.setdefault(app, [])


def record_notifications(monkeypatch) -> None:
    """Wrap OxbotApp.notify and clear_notifications for one test (conftest's autouse fixture)."""
    notify, clear = OxbotApp.notify, OxbotApp.clear_notifications

    def recording(self, message, *, title="", severity="information", **kw):
        notifications(self).append(Note(str(message), title, severity))
        return notify(self, message, title=title, severity=severity, **kw)

    def clearing(self) -> None:
        notifications(self).clear()
        clear(self)

    monkeypatch.setattr(OxbotApp, "notify", recording)
    monkeypatch.setattr(OxbotApp, "clear_notifications", clearing)


def screen_text(app: OxbotApp) -> str:
    """The screen as text, as a person would read it. The one read of Textual's private state
    left in the suite: Textual exports a screen only as SVG (App.export_screenshot), never as
    text, so this asks the screen's compositor for its lines."""
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def ready(pilot) -> None:
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


async def drawn[T](pilot, cond: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    """Wait while the app draws until cond() holds (its value); on timeout show the screen."""
    return await wait_for(
        cond, timeout, what, pause=lambda: pilot.pause(0.05), detail=lambda: screen_text(pilot.app)
    )
