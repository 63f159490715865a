"""Line-API scrolling panels whose content grows or changes without a screen layout.

Textual's `virtual_size` asks for a layout pass of the whole screen whenever it changes, and a
layout pass re-arranges every widget and repaints whatever moved: 5-15 ms at 120x40, paid by
every frame in which a log line is appended or the reasoning of another bot is shown. A panel
whose own size does not change with its content (ours are sized by the grid, never by what
they show) only needs its scrollbars updated: `NoLayoutVirtualSize` does that. A scrollbar
appearing or going still lays the screen out (it changes the content's width).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive


class NoLayoutVirtualSize:
    """Mix into a ScrollView subclass (before it): a change of `virtual_size` repaints the
    widget and updates its scrollbars, without a layout pass."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=True)

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        self._scroll_update(new)  # type: ignore[attr-defined]  # Widget's: scrollbars, scroll limits
