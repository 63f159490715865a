"""The selected bot's decisions as they happen: reasoning (streamed), actions, risk verdict."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.scrollbar import ScrollTo, ScrollUp
from textual.widgets import Static

from .. import formatting as fmt
from ..palette import colour
from ..state import ReasoningEntry

VERDICT_VARIABLE = {"approved": "pnl-up", "clamped": "bot-paused", "rejected": "pnl-down"}


class ReasoningPanel(VerticalScroll):
    """Newest decision at the bottom, auto-scrolled while the user has not scrolled up.

    ``following`` is switched off only by the user scrolling up (wheel, keys, scrollbar) and on
    again when they reach the bottom or pick another bot. Deriving it from the scroll position
    instead fails while the panel is hidden (compact layout) and as content grows.
    """

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.following = True
        self._bot: str | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="reasoning-text")

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

    def _follow(self) -> None:
        # After the next layout pass, when the new text's height is known. Decided then, not
        # now: a reader who scrolls back in between stays where they went. (Wrapping the text
        # here instead, to scroll in the same frame, cost 2 ms more per decision shown.)
        if self.following:
            self.call_after_refresh(self._scroll_end_if_following)

    def _scroll_end_if_following(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True)

    def on_resize(self) -> None:
        self._follow()  # shown again (compact tabs) or resized: the newest at the bottom

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        # The text grew in a layout pass after the one ``show`` scrolled in (many entries at
        # once: a restart's history, a loaded machine): scroll to the newest again.
        if new.height > old.height:
            self._follow()

    def on_show(self) -> None:
        self._follow()

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
        self.query_one("#reasoning-text", Static).update(text)
        self._follow()

    def _entry(self, out: Text, e: ReasoningEntry) -> None:
        out.append(f"{fmt.hhmm(e.ts)} ", style="bold")
        out.append(f"[{e.source or '…'}] ", style="dim")
        if e.source == "capital":  # a capital edit, and what it left over a limit
            out.append(e.text.strip() + "\n")
            for reason in e.verdict_reasons:
                out.append("⚠ over a limit: ", style=f"bold {colour(self.app, 'pnl-down')}")
                out.append(reason + "\n")
            out.append("\n")
            return
        if not e.done:
            out.append("thinking…\n", style="italic")
        out.append((e.text.strip() or "(no reasoning text)") + "\n")
        if not e.done:
            return
        acts = [f"{sym} {act.upper()}" for sym, act in e.actions if act != "hold"]
        out.append("→ " + (", ".join(acts) if acts else "HOLD"), style="bold")
        if e.verdict:
            out.append("  risk: ")
            out.append(
                e.verdict.upper(),
                style=f"bold {colour(self.app, VERDICT_VARIABLE.get(e.verdict, ''))}",
            )
            if e.verdict_reasons:
                out.append(" — " + "; ".join(e.verdict_reasons))
        out.append("\n\n")
