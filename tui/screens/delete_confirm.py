"""Deleting a bot: its history is kept unless the user ticks the purge box.

Dismisses with None (cancelled), False (delete, keep history) or True (delete and purge).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

from ..widgets.tick_box import TickBox


class DeleteBotScreen(ModalScreen[bool | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="delete.cancel")]

    def __init__(self, bot: str) -> None:
        super().__init__(classes="confirm")
        self._bot = bot

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger"):
            yield Static(f"Delete bot {self._bot}?", id="dialog-title")
            yield Static(
                "The bot is stopped and removed from the dashboard. Its trades, "
                "decisions and equity history stay in the database unless you tick "
                "the box.",
                id="dialog-body",
            )
            yield TickBox("Also purge its history (cannot be undone)", id="purge")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Delete", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(self.query_one("#purge", Checkbox).value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
