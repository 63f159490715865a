"""The selected bot's decisions as they happen: reasoning (streamed), actions, risk verdict."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from .. import formatting as fmt
from ..palette import colour
from ..state import ReasoningEntry

VERDICT_VARIABLE = {"approved": "pnl-up", "clamped": "bot-paused", "rejected": "pnl-down"}


class ReasoningPanel(VerticalScroll):
    """Newest decision at the bottom, auto-scrolled while the user has not scrolled up."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="reasoning-text")

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
        at_end = self.scroll_y >= self.max_scroll_y - 1
        self.query_one("#reasoning-text", Static).update(text)
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)

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
