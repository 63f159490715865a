"""LIVE start-up reconciliation: the differences between the database and the exchange, each
with Adopt (make the database match the exchange) or Ignore, and both for all at once.

The list is the app's ``state.reconcile`` (fed by ReconcileFound events); a choice is a
ResolveReconcile command, and the item leaves the list when the engine's next ReconcileFound no
longer carries it. Closes itself when nothing is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..cockpit import Cockpit, cockpit

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine import messages as m

KIND_TEXT = {
    "orphan": "ORPHAN order: on the exchange, unknown to the database",
    "ghost": "GHOST order: ended without fills in the database, filled on the exchange",
    "unknown": "UNKNOWN order: sent, never shown by the exchange",
    "balance": "BALANCE differs",
}
ADOPT_MEANS = {
    "orphan": "adopt = record the exchange's order (and its fills) in the database",
    "ghost": "adopt = record what the exchange says happened to it",
    "unknown": "adopt = record it as never placed (ignore keeps looking it up)",
}


class ReconcileScreen(ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape",
            "close",
            "Close",
            id="reconcile.close",
            tooltip="Close; undecided differences stay listed (r reopens)",
        ),
        Binding(
            "A",
            "all('adopt')",
            "Adopt all",
            id="reconcile.adopt_all",
            tooltip="Adopt every difference that can be adopted",
        ),
        Binding(
            "I",
            "all('ignore')",
            "Ignore all",
            id="reconcile.ignore_all",
            tooltip="Ignore every difference",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[str, m.ReconcileItem]] = {}  # row key -> (bot, item)
        # (bot, item id) -> request id of the choice in flight (a failed one is offered again)
        self._sent: dict[tuple[str, str], str] = {}

    @property
    def oxapp(self) -> Cockpit:
        return cockpit(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="reconcile-box"):
            yield Static("Reconcile with the exchange", id="reconcile-title")
            yield Static(
                "A LIVE bot started and the database disagrees with the exchange. "
                "Choose per difference; ignored ones change nothing and are "
                "reported again at the next start.",
                id="reconcile-help",
            )
            yield VerticalScroll(id="reconcile-list")
            with Horizontal(id="reconcile-buttons"):
                yield Button("Close", id="close")
                yield Button("Ignore all", id="ignore-all")
                yield Button("Adopt all", id="adopt-all", variant="warning")

    async def on_mount(self) -> None:
        await self.refresh_items()

    async def refresh_items(self) -> None:
        """Rebuild the list from the app's state; dismiss when nothing is left."""
        items = self.oxapp.state.reconcile_items()
        if not items:
            self.notify("Reconciliation: every difference is resolved.", timeout=4)
            self.dismiss(None)
            return
        live = {(bot, i.id) for bot, i in items}
        pending = self.oxapp.state.pending
        self._sent = {k: rid for k, rid in self._sent.items() if k in live and rid in pending}
        box = self.query_one("#reconcile-list", VerticalScroll)
        await box.remove_children()
        self._rows = {}
        rows = []
        for n, (bot, item) in enumerate(items):
            key = f"r{n}"
            self._rows[key] = (bot, item)
            rows.append(self._row(key, bot, item))
        await box.mount_all(rows)
        self.query_one("#adopt-all", Button).disabled = not any(
            "adopt" in i.actions for _, i in items
        )
        self.query_one("#reconcile-title", Static).update(
            f"Reconcile with the exchange: {len(items)} difference(s)"
        )

    def _row(self, key: str, bot: str, item: m.ReconcileItem) -> Vertical:
        waiting = (bot, item.id) in self._sent
        text = Text()
        text.append(f"{bot} · {item.symbol} · ", style="bold")
        text.append(KIND_TEXT.get(item.kind, item.kind.upper()), style="bold")
        text.append(f"\n{item.detail}")
        if item.kind in ADOPT_MEANS and "adopt" in item.actions:
            text.append(f"\n{ADOPT_MEANS[item.kind]}", style="dim")
        if "adopt" not in item.actions:
            text.append("\nonly ignore is possible: oxbot never moves funds to match", style="dim")
        if waiting:
            text.append("\n… waiting for the engine", style="italic")
        buttons = []
        if "adopt" in item.actions:
            buttons.append(
                Button(
                    "Adopt",
                    id=f"adopt-{key}",
                    variant="warning",
                    disabled=waiting,
                    classes="rc-button",
                )
            )
        buttons.append(Button("Ignore", id=f"ignore-{key}", disabled=waiting, classes="rc-button"))
        return Vertical(
            Static(text, classes="rc-text"),
            Horizontal(*buttons, classes="rc-actions"),
            classes="rc-row",
        )

    # ------------------------------------------------------------------ choices

    def _resolve(self, key: str, action: str) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        bot, item = self._rows[key]
        if (bot, item.id) in self._sent or action not in item.actions:
            return
        self._sent[(bot, item.id)] = self.oxapp.send(
            m.ResolveReconcile(bot=bot, item_id=item.id, action=action),
            f"{bot}: {action} {item.kind} {item.symbol}",
        )
        for b in self.query(f"#adopt-{key}, #ignore-{key}").results(Button):
            b.disabled = True

    @on(Button.Pressed, ".rc-button")
    def _item_button(self, event: Button.Pressed) -> None:
        action, _, key = (event.button.id or "").partition("-")
        self._resolve(key, action)

    def action_all(self, action: str) -> None:
        for key, (_bot, item) in list(self._rows.items()):
            if action in item.actions:
                self._resolve(key, action)

    @on(Button.Pressed, "#adopt-all")
    def _adopt_all(self) -> None:
        self.action_all("adopt")

    @on(Button.Pressed, "#ignore-all")
    def _ignore_all(self) -> None:
        self.action_all("ignore")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
