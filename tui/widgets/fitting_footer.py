"""A footer that shows as many keys as fit, most important first, never a cut-off label.

Textual's Footer lays every shown binding out in a row and crops what does not fit (at 80
columns the last key lost its label). Here each key's width is known (key + label), so the
least important ones are left out whole; ``?`` (help) and ``^p`` (palette) always stay, and
help lists everything.
"""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Actions by importance: the first ones are kept when the width runs out.
PRIORITY = ("panic", "help", "command_palette", "reconcile", "start", "stop", "pause", "resume",
            "flatten", "new_bot", "quit", "configure", "delete", "backtest", "keys",
            "cycle_theme")


def _rank(action: str) -> int:
    name = action.rsplit(".", 1)[-1].split("(")[0]
    return PRIORITY.index(name) if name in PRIORITY else len(PRIORITY)


class FittingFooter(Footer):
    """Footer(compact) whose keys are chosen by PRIORITY to fit the width."""

    def on_resize(self, event: Resize) -> None:
        if event.size.width != getattr(self, "_laid_out_for", None):
            self._laid_out_for = event.size.width
            self.call_after_refresh(self.recompose)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        app = self.app
        seen: set[str] = set()
        items = []  # (binding, enabled, tooltip, key display)
        for _ns, binding, enabled, tooltip in self.screen.active_bindings.values():
            palette = binding.action == "command_palette"  # Textual adds it hidden
            if not (binding.show or palette) or binding.action in seen:
                continue
            seen.add(binding.action)
            if palette:
                binding = replace(binding, description="Palette")
            items.append((binding, enabled, tooltip, app.get_key_display(binding)))
        room = self.size.width or app.size.width
        keep: set[int] = set()
        used = 0
        for i in sorted(range(len(items)), key=lambda i: _rank(items[i][0].action)):
            binding, _, _, display = items[i]
            width = len(display) + len(binding.description) + 2  # "k Label" and a gap
            if used + width <= room:
                keep.add(i)
                used += width
        self.styles.grid_size_columns = len(keep)
        for i, (binding, enabled, tooltip, display) in enumerate(items):
            if i in keep:
                yield FooterKey(binding.key, display, binding.description, binding.action,
                                disabled=not enabled, tooltip=tooltip or binding.description
                                ).data_bind(compact=Footer.compact)
