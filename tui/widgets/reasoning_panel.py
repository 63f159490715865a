"""The selected bot's decisions as they happen: reasoning (streamed), actions, risk verdict."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from .. import formatting as fmt
from ..palette import colour
from ..state import ReasoningEntry
from .no_layout_scroll import NoLayoutVirtualSize

VERDICT_VARIABLE = {"approved": "pnl-up", "clamped": "bot-paused", "rejected": "pnl-down"}


class ReasoningPanel(NoLayoutVirtualSize, ScrollView):
    """Newest decision at the bottom, auto-scrolled while the user has not scrolled up.

    ``following`` is switched off only by the user scrolling up (wheel, keys, scrollbar) and on
    again when they reach the bottom or pick another bot. Deriving it from the scroll position
    instead fails while the panel is hidden (compact layout) and as content grows.

    A line-API widget: the text is wrapped to the panel's width here and its lines cached, so
    showing another bot's decisions repaints this panel alone, in the same frame, without a
    layout pass of the whole screen (a Static in a scrolling container asked for one on every
    update: j's frame was a full-screen layout).
    """

    DEFAULT_CSS = """
    ReasoningPanel {
        overflow-x: hidden;
    }
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
        self._text = Text()
        self._strips: list[Strip] = []

    @property
    def text(self) -> str:
        """What the panel shows, as plain text (unwrapped)."""
        return self._text.plain

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
        if self.following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        # shown again (compact tabs) or resized: wrap at the new width, the newest at the bottom
        self._wrap()
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
        self._text = text
        self._wrap()
        self._follow()

    # ------------------------------------------------------------------ lines

    def _wrap(self) -> None:
        """Wrap the text to the content's width (less the scrollbar's when the lines need
        one) and size the scrollable area to it; hidden (width 0): when shown again."""
        width, height = self.size  # the content area: padding and border excluded
        if width <= 0:
            return
        strips = self._lines(width)
        bar = self.styles.scrollbar_size_vertical
        if len(strips) > height and bar and width > bar:
            width -= bar
            strips = self._lines(width)
        self._strips = strips
        self.virtual_size = Size(width, len(strips))
        self.refresh()

    def _lines(self, width: int) -> list[Strip]:
        console = self.app.console
        options = console.options.update(width=width, height=None, highlight=False)
        lines = console.render_lines(self._text, options, pad=True)
        return [Strip(line, width) for line in lines]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        style = self.rich_style
        if index >= len(self._strips):
            return Strip.blank(width, style)
        return self._strips[index].crop_extend(scroll_x, scroll_x + width, style).apply_style(style)

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
