"""Every binding of the app and the dashboard, with the key currently mapped to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_rows(
    app_bindings: list[Binding],
    screen_bindings: list[Binding],
    keymap: dict[str, str],
    display: Callable[[str], str] = str,
) -> list[tuple[str, str, str]]:
    """(keys, what it does, binding id) for every binding that has an id; ``display`` turns
    a key name into what the keyboard shows (``question_mark`` -> ``?``)."""
    rows = []
    for b in [*screen_bindings, *app_bindings]:
        if not b.id:
            continue
        keys = keymap.get(b.id, b.key)
        what = b.tooltip or b.description
        rows.append((", ".join(display(k.strip()) for k in keys.split(",")), what, b.id))
    return rows


def key_display(app: App[Any], key: str) -> str:
    """How Textual writes ``key`` in the footer: ``?`` for question_mark, ``^x`` for ctrl+x."""
    return "space" if key == "space" else app.get_key_display(Binding(key, ""))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action", ratio=1)
        table.add_column("Id (for keymap)", style="dim", no_wrap=True)
        for keys, what, bid in self._rows:
            table.add_row(keys, what, bid)
        with VerticalScroll(id="help-box"):
            yield Static(
                "Keys — remap any of them in settings (keymap: id = key). Esc closes.",
                id="help-title",
            )
            yield Static(table, id="help-table")
