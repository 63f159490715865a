"""plotext's drawing made independent of the process's hash seed, for every chart that uses it
(the CLI's reports and the cockpit's panels alike).

plotext's ``_utility.no_duplicates`` is ``list(set(data))``: it orders a curve's points (tuples
of floats with marker and colour strings) by hash, and a string's hash changes with every
process (PYTHONHASHSEED). So the order a curve's points were drawn in changed from run to run,
and with it where a tick label fits (``correct_coord`` reads the row already drawn). Seen: one
backtest's equity chart with its x labels a column apart in two runs of the same code (seeds 1,
2, 4 against 3, 5). ``stable_plotext`` keeps the same elements in first-seen order.
"""

from __future__ import annotations

from typing import Any


def stable_plotext() -> None:
    """Install the order-keeping ``no_duplicates`` (idempotent; call before drawing)."""
    import plotext._utility as ut  # noqa: PLC0415 - plotext loads only where a chart is drawn

    ut.no_duplicates = _first_seen


def _first_seen(data: Any) -> list[Any]:
    return list(dict.fromkeys(list(data)))
