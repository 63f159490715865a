"""The selected bot's decisions as they happen: reasoning (streamed), actions, risk verdict."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.scrollbar import ScrollTo, ScrollUp
from textual.widgets import RichLog

from .. import formatting as fmt
from ..palette import colour
from ..state import ReasoningEntry

VERDICT_VARIABLE = {"approved": "pnl-up", "clamped": "bot-paused", "rejected": "pnl-down"}


class ReasoningPanel(RichLog):
    """Newest decision at the bottom, auto-scrolled while the user has not scrolled up.

    ``following`` is switched off only by the user scrolling up (wheel, keys, scrollbar) and on
    again when they reach the bottom or pick another bot. Deriving it from the scroll position
    instead fails while the panel is hidden (compact layout) and as content grows.

    The text is wrapped here, at the panel's width, so the panel knows its height at once and
    follows the newest line in the same frame (a Static in a scroll container learns its height
    only in the next layout pass: a second repaint for every decision).
    """

    def __init__(self, *, id: str | None = None,  # noqa: A002 - Textual's name
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, wrap=True, markup=False, min_width=0,
                         auto_scroll=False)
        self.following = True
        self._bot: str | None = None
        self._text = Text()
        self._width = 0
        self._stale = True  # text set while hidden or before the width was known

    # ------------------------------------------------------------------ following

    def _user_scrolled_up(self) -> None:
        if self.max_scroll_y > 0:
            self.following = False

    def on_mouse_scroll_up(self, _event: events.MouseScrollUp) -> None:
        self._user_scrolled_up()

    def on_scroll_up(self, _event: ScrollUp) -> None:
        self._user_scrolled_up()

    def on_scroll_to(self, _event: ScrollTo) -> None:
        self._user_scrolled_up()  # a scrollbar drag; reaching the bottom turns it back on

    def action_scroll_up(self) -> None:
        self._user_scrolled_up()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._user_scrolled_up()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._user_scrolled_up()
        super().action_scroll_home()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.max_scroll_y > 0 and new >= self.max_scroll_y:
            self.following = True

    def on_resize(self, event: events.Resize) -> None:
        # Wrapped lines keep the width they were wrapped at: wrap again (shown again in the
        # compact tabs, or resized); the newest stays at the bottom.
        if event.size.width > 0 and (event.size.width != self._width or self._stale):
            self._width = event.size.width
            self._draw()

    def on_show(self) -> None:
        if self._stale:
            self.call_after_refresh(self._draw)

    def show(self, bot: str | None, entries: Iterable[ReasoningEntry]) -> None:
        text = Text()
        if bot is None:
            text.append("Select a bot (↑/↓ or j/k) to follow its decisions.", style="dim")
        else:
            entries = list(entries)[-8:]
            if not entries:
                text.append(f"{bot}: no decision yet.", style="dim")
            for e in entries:
                self._entry(text, e)
        if bot != self._bot:
            self._bot, self.following = bot, True
        self._text = text
        self._draw()

    def _draw(self) -> None:
        if not self.display or self.size.width <= 0:
            self._stale = True  # wrapped at width 0 it would stay blank
            return
        self._stale = False
        self._width = self.size.width
        top = self.scroll_y
        self.clear()
        self.write(self._text.copy(), scroll_end=False)
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:  # the reader stays where they are
            self.scroll_to(y=top, animate=False, immediate=True)

    def _entry(self, out: Text, e: ReasoningEntry) -> None:
        out.append(f"{fmt.hhmm(e.ts)} ", style="bold")
        out.append(f"[{e.source or '…'}] ", style="dim")
        if not e.done:
            out.append("thinking…\n", style="italic")
        out.append((e.text.strip() or "(no reasoning text)") + "\n")
        if not e.done:
            return
        acts = [f"{sym} {act.upper()}" for sym, act in e.actions if act != "hold"]
        out.append("→ " + (", ".join(acts) if acts else "HOLD"), style="bold")
        if e.verdict:
            out.append("  risk: ")
            out.append(e.verdict.upper(),
                       style=f"bold {colour(self.app, VERDICT_VARIABLE.get(e.verdict, ''))}")
            if e.verdict_reasons:
                out.append(" — " + "; ".join(e.verdict_reasons))
        out.append("\n\n")
