"""A yes/no question before anything destructive. Returns True only on an explicit yes."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]

    def __init__(
        self, title: str, body: str, *, confirm_label: str = "Yes", danger: bool = False
    ) -> None:
        super().__init__(classes="confirm")
        self._title, self._body = title, body
        self._confirm_label, self._danger = confirm_label, danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self._danger else ""):
            yield Static(self._title, id="dialog-title")
            yield Static(self._body, id="dialog-body")
            yield from self.extra_widgets()
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(
                    self._confirm_label,
                    id="confirm",
                    variant="error" if self._danger else "primary",
                )

    def extra_widgets(self) -> ComposeResult:
        """Subclasses add inputs between the text and the buttons."""
        yield from ()

    def on_mount(self) -> None:
        # Cancel has focus: a stray enter never confirms something destructive.
        self.query_one("#cancel", Button).focus()

    def result(self) -> bool:
        return True

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(self.result())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
