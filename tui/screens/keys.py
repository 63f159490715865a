"""API keys in the OS keyring: list (masked), set with masked inputs and a reveal toggle, delete.

Every keyring call runs in a thread worker (group "keys"): a locked keyring never freezes the UI.
Failures reach the user through the app's one worker-failure handler. Values never leave this
screen except to `oxbot.storage.secrets`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ..palette import colour
from ..widgets.tick_box import TickBox


class KeysScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="keys.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="keys-box"):
            yield Static("API keys (OS keyring)", id="keys-title")
            yield Static("loading…", id="keys-list", markup=False)
            with Horizontal(classes="field-row"):
                yield Label("Provider", classes="field-label")
                yield Input(
                    placeholder="binance, okx, openai, anthropic, …",
                    id="keys-provider",
                    compact=True,
                )
            yield Static("", id="keys-provider-error", classes="field-error", markup=False)
            yield VerticalScroll(id="keys-fields")
            yield TickBox("Reveal values", id="keys-reveal")
            yield Static("", id="keys-status", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Delete", id="keys-delete", variant="error", disabled=True)
                yield Button("Close", id="keys-close")
                yield Button("Save", id="keys-save", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#keys-provider", Input).focus()
        self._refresh_list()

    # ------------------------------------------------------------------ workers (I/O)

    def _run(self, fn: Any, *args: Any) -> None:
        self.app.run_worker(lambda: fn(*args), thread=True, group="keys", exit_on_error=False)

    def _refresh_list(self) -> None:
        def work() -> None:
            from oxbot.engine.errors import OxbotError  # noqa: PLC0415
            from oxbot.storage.secrets import backend_name, list_secrets  # noqa: PLC0415

            backend = backend_name()
            problem = ""
            try:
                entries = list_secrets()
            except OxbotError as e:
                # No keyring: the list says so, with the fixes, where the user is looking
                # (a toast vanishes); environment keys still work and are listed.
                problem = str(e)
                entries = list_secrets(include_keyring=False)
            self.app.call_from_thread(self._show_list, backend, entries, problem)

        self._run(work)

    def _show_list(self, backend: str, entries: list[Any], problem: str) -> None:
        # Text, not markup: "[env]" and "oxbot[cryptfile]" must show as typed.
        text = Text(f"backend: {backend}\n")
        for e in entries:
            masked = ", ".join(f"{k}={v}" for k, v in e.fields.items())
            note = "" if e.in_use else " (shadowed by environment)"
            text.append(f"  {e.provider:<12} [{e.source}] {masked}{note}\n")
        if not entries:
            text.append("  no keys stored yet\n")
        if problem:
            text.append(f"keyring unavailable: {problem}", style=colour(self.app, "error"))
        text.rstrip()
        self.query_one("#keys-list", Static).update(text)

    # ------------------------------------------------------------------ the form

    @on(Input.Changed, "#keys-provider")
    def _provider_changed(self, event: Input.Changed) -> None:
        from oxbot.engine.errors import OxbotError  # noqa: PLC0415
        from oxbot.storage.secrets import provider_spec  # noqa: PLC0415

        box = self.query_one("#keys-fields", VerticalScroll)
        box.remove_children()
        err = self.query_one("#keys-provider-error", Static)
        name = event.value.strip()
        self.query_one("#keys-save", Button).disabled = True
        self.query_one("#keys-delete", Button).disabled = not name
        if not name:
            err.update("")
            return
        try:
            spec = provider_spec(name)  # pure: no keyring call
        except OxbotError as e:
            err.update(f"↳ {e}")
            return
        err.update("" if spec.fields else f"↳ {spec.name} needs no key")
        reveal = self.query_one("#keys-reveal", Checkbox).value
        for f in spec.fields:
            box.mount(
                Horizontal(
                    Label(f.label, classes="field-label"),
                    Input(
                        id=f"key-{f.name}",
                        password=not reveal,
                        compact=True,
                        placeholder="" if f.required else "optional",
                    ),
                    classes="field-row",
                )
            )
        self.query_one("#keys-save", Button).disabled = not spec.fields

    @on(Checkbox.Changed, "#keys-reveal")
    def _reveal(self, event: Checkbox.Changed) -> None:
        for inp in self.query("#keys-fields Input").results(Input):
            inp.password = not event.value

    @on(Button.Pressed, "#keys-save")
    def _save(self) -> None:
        provider = self.query_one("#keys-provider", Input).value.strip()
        fields = {
            (inp.id or "").removeprefix("key-"): inp.value
            for inp in self.query("#keys-fields Input").results(Input)
        }
        status = self.query_one("#keys-status", Static)
        status.update(f"saving {provider}…")

        def work() -> None:
            from oxbot.storage.secrets import set_secret  # noqa: PLC0415

            backend = set_secret(provider, fields)
            self.app.call_from_thread(self._saved, provider, backend)

        self._run(work)

    def _saved(self, provider: str, backend: str) -> None:
        for inp in self.query("#keys-fields Input").results(Input):
            inp.value = ""  # the key leaves the screen once stored
        self.query_one("#keys-status", Static).update(
            f"{provider}: saved and read back ({backend})"
        )
        self._refresh_list()

    @on(Button.Pressed, "#keys-delete")
    def _delete(self) -> None:
        provider = self.query_one("#keys-provider", Input).value.strip()

        def work() -> None:
            from oxbot.storage.secrets import delete_secret  # noqa: PLC0415

            existed = delete_secret(provider)
            self.app.call_from_thread(
                self.query_one("#keys-status", Static).update,
                f"{provider}: deleted" if existed else f"{provider}: no key was stored",
            )
            self.app.call_from_thread(self._refresh_list)

        self._run(work)

    @on(Button.Pressed, "#keys-close")
    def _close(self) -> None:
        self.dismiss(None)
