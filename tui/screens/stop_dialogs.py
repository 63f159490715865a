"""The questions asked before stopping things: a bot with open positions (keep or close them),
PANIC (with every bot's new decisions held while it is on screen), and quitting a cockpit that
hosts running bots.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import formatting as fmt
from .confirm import ConfirmScreen

KEEP, CLOSE = "keep", "close"
HOLD_LEASE_S = 60  # the engine's hold ends by itself this long after the last renewal
HOLD_RENEW_S = 20.0
COUNT_REFRESH_S = 0.25


class StopBotScreen(ModalScreen[str | None]):
    """Stop a bot that holds positions: keep them (default) or close them at market.

    Dismisses with KEEP, CLOSE or None (cancelled). The button of the bot's own ``on_stop``
    setting has focus, so enter does what the bot is set to do."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="stop.cancel")]

    def __init__(self, bot: str, positions: int, on_stop: str = KEEP) -> None:
        super().__init__(classes="confirm")
        self._bot, self._positions, self._on_stop = bot, positions, on_stop

    def compose(self) -> ComposeResult:
        held = fmt.count(self._positions, "open position")
        them = "it" if self._positions == 1 else "them"
        with Vertical(id="dialog", classes="wide"):
            yield Static(f"Stop {self._bot}?", id="dialog-title")
            yield Static(
                f"{self._bot} holds {held}. Keep: {them} stay{'s' if them == 'it' else ''} "
                "open, and stop-loss and take-profit are NOT watched until the bot runs "
                f"again. Close: {them} {'is' if them == 'it' else 'are'} sold at market now.",
                id="dialog-body",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Keep positions", id="keep", variant="primary")
                yield Button("Close positions", id="close", variant="error")

    def on_mount(self) -> None:
        self.query_one(f"#{CLOSE if self._on_stop == CLOSE else KEEP}", Button).focus()

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.dismiss(KEEP)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(CLOSE)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


PanicCounts = Callable[[], tuple[int, int]]  # (active bots, open positions), read now


class PanicScreen(ConfirmScreen):
    """PANIC's question. While it is open the engine holds every bot's new decisions (a lease
    renewed here; released on cancel, and PANIC itself releases it), and the counts follow the
    engine: what the dialog says is what PANIC will stop and close."""

    def __init__(self, counts: PanicCounts, hold: Callable[[bool], None]) -> None:
        self._counts = counts
        self._hold = hold
        self._shown = counts()
        super().__init__(
            "PANIC: stop everything?", self._text(*self._shown), confirm_label="PANIC", danger=True
        )

    @staticmethod
    def _text(active: int, positions: int) -> str:
        return (
            f"Stop {fmt.count(active, 'running or paused bot')} and close "
            f"{fmt.count(positions, 'open position')} at market now.\n"
            "No bot makes a new decision while this question is open; stop-loss and "
            "take-profit still close positions."
        )

    def on_mount(self) -> None:
        super().on_mount()
        self._hold(True)
        self.set_interval(HOLD_RENEW_S, lambda: self._hold(True))
        self.set_interval(COUNT_REFRESH_S, self._refresh_counts)

    def _refresh_counts(self) -> None:
        now = self._counts()
        if now != self._shown:
            self._shown = now
            self.query_one("#dialog-body", Static).update(self._text(*now))

    def dismiss(self, result: bool | None = None) -> object:  # type: ignore[override]
        if not result:
            self._hold(False)  # cancelled: the bots decide again at once
        return super().dismiss(result)


class QuitScreen(ConfirmScreen):
    """Quitting a cockpit that hosts the engine while bots run: they stop with it. A second q
    (or ctrl+c) quits."""

    BINDINGS = [
        *ConfirmScreen.BINDINGS,
        Binding("q", "quit_now", "Quit", id="quit.again", show=False),
    ]

    def action_quit_now(self) -> None:
        self.dismiss(True)

    def __init__(self, running: int) -> None:
        super().__init__(
            "Quit oxbot?",
            f"{fmt.count(running, 'bot')} running or paused in this cockpit. Quitting stops "
            "the engine with them: their state is saved and they resume the next time oxbot "
            "starts, but until then no stop-loss or take-profit is watched. (`oxbot run "
            "--headless` keeps bots running without a cockpit.)",
            confirm_label="Quit",
        )
