"""A checkbox whose state is in the text, not only the colour: ``[✓]`` ticked, ``[ ]`` not.
Textual's Checkbox draws ``▐X▌`` either way, which a monochrome terminal cannot tell apart."""

from __future__ import annotations

from textual.widgets import Checkbox


class TickBox(Checkbox):
    BUTTON_LEFT = "["
    BUTTON_RIGHT = "]"

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 - Textual's name
        return "✓" if self.value else " "
