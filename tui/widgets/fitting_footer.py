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
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Actions by importance: the first ones are kept when the width runs out.
PRIORITY = (
    "panic",
    "help",
    "command_palette",
    "reconcile",
    "start",
    "stop",
    "pause",
    "resume",
    "flatten",
    "new_bot",
    "quit",
    "configure",
    "delete",
    "backtest",
    "keys",
    "cycle_theme",
)


# Actions that share a key and take turns as bots are selected (space: Pause <-> Resume):
# each is shown at the width of the longest, so a relabel never changes a key's width.
RELABELLED = frozenset({"pause", "resume"})


def _name(action: str) -> str:
    return action.rsplit(".", 1)[-1].split("(")[0]


def _rank(action: str) -> int:
    name = _name(action)
    return PRIORITY.index(name) if name in PRIORITY else len(PRIORITY)


class FittingFooter(Footer):
    """Footer(compact) whose keys are chosen by PRIORITY to fit the width."""

    _laid_out_for: int | None = None  # the width the shown keys were chosen for

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._laid_out_for:
            self._laid_out_for = event.size.width
            self.call_after_refresh(self.recompose)

    def _keys(self) -> list[tuple[str, str, str, str, bool, str]]:
        """The keys to show, in binding order: (key, display, label, action, enabled, tip).

        The RELABELLED actions of one screen or widget and key are padded to the longest
        label among them, so relabelling as bots are selected never changes a key's width
        and so never asks the screen for a layout."""
        app = self.app
        widest: dict[tuple[int, str], int] = {}  # (namespace, key): the longest label
        for ns, bindings in self.screen._modal_binding_chain:  # every binding, hidden too
            for _key, binding in bindings:
                if binding.show and _name(binding.action) in RELABELLED:
                    slot = (id(ns), binding.key)
                    widest[slot] = max(widest.get(slot, 0), len(binding.description))
        seen: set[str] = set()
        items = []  # (binding, enabled, tooltip, key display)
        for ns, binding, enabled, tooltip in self.screen.active_bindings.values():
            palette = binding.action == "command_palette"  # Textual adds it hidden
            if not (binding.show or palette) or binding.action in seen:
                continue
            seen.add(binding.action)
            if palette:
                binding = replace(binding, description="Palette")
            tooltip = tooltip or binding.description
            label = binding.description.ljust(widest.get((id(ns), binding.key), 0))
            binding = replace(binding, description=label)
            items.append((binding, enabled, tooltip, app.get_key_display(binding)))
        room = self.size.width or app.size.width
        self._laid_out_for = room  # the first Resize, to this width, needs no recompose
        keep: set[int] = set()
        used = 0
        for i in sorted(range(len(items)), key=lambda i: _rank(items[i][0].action)):
            binding, _, _, display = items[i]
            width = len(display) + len(binding.description) + 2  # "k Label" and a gap
            if used + width <= room + 2:  # no gap after the last key
                keep.add(i)
                used += width
        return [
            (b.key, display, b.description, b.action, enabled, tooltip)
            for i, (b, enabled, tooltip, display) in enumerate(items)
            if i in keep
        ]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        keys = self._keys()
        self.styles.grid_size_columns = len(keys)
        # born with the class that data_bind's first watch would add: one style pass each
        compact = "-compact" if self.compact else ""
        for key, display, label, action, enabled, tip in keys:
            yield FooterKey(
                key, display, label, action, disabled=not enabled, tooltip=tip, classes=compact
            ).data_bind(compact=Footer.compact)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        """Relabel the keys in place when only labels or enabled states changed (space:
        Pause <-> Resume as bots are selected): a recompose mounts every key again, a
        frame's worth of work on a busy screen."""
        if not self.is_attached:
            return
        keys = self._keys()
        shown = list(self.query_children(FooterKey))
        if len(shown) != len(keys):
            await self.recompose()
            return
        for widget, (key, display, label, action, enabled, tip) in zip(shown, keys, strict=True):
            if (
                widget.key,
                widget.key_display,
                widget.description,
                widget.action,
                not widget.has_class("-disabled"),
            ) == (key, display, label, action, enabled):
                continue
            resized = len(widget.description) != len(label) or widget.key_display != display
            widget.key, widget.key_display, widget.description = key, display, label
            widget.action = action
            widget._disabled = not enabled  # what FooterKey's click handler reads
            widget.set_class(not enabled, "-disabled")
            widget.tooltip = tip
            widget.refresh(layout=resized)
