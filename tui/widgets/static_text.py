"""Cheap updates of single-line Static widgets.

`Static.update` asks for a layout pass by default, and a layout pass re-arranges and repaints
the whole screen. The header's clock and figures change several times a second while keeping
their size, so they skip it unless their width really changed, or at all when their CSS
fixes both dimensions (the header's figures: ``width: 1fr; height: 1``), since the content
then cannot change the widget's size.
"""

from __future__ import annotations

from rich.text import Text
from textual.css.scalar import Scalar
from textual.widgets import Static


def _fixed(scalar: Scalar | None) -> bool:
    return scalar is not None and not scalar.is_auto


def update_static(widget: Static, content: Text | str) -> None:
    """Set ``widget``'s content; lay the screen out again only if its size may change."""
    if _fixed(widget.styles.width) and _fixed(widget.styles.height):
        widget.update(content, layout=False)
        return
    text = content if isinstance(content, Text) else Text(content)
    lines = text.plain.split("\n")
    size = (len(lines), max(Text(line).cell_len for line in lines))
    previous = getattr(widget, "_oxbot_size", None)
    widget._oxbot_size = size  # type: ignore[attr-defined]
    widget.update(content, layout=size != previous)
