"""rich.pretty without attrs, imported before the dashboard (tui/app.py).

Textual's RichLog, which the dashboard's Fills log is, imports rich.pretty, and rich.pretty
imports attrs (≈ 18 ms of the first frame's ≈ 0.5 s CPU) only to pretty-print attrs classes,
which the cockpit never shows. Imported here with attrs hidden, rich.pretty prints such objects
by their repr; attrs is visible again at once, so anything else in the process (aiohttp, under
ccxt) imports it as usual.
"""

from __future__ import annotations

import sys


def import_without_attrs() -> None:
    if "rich.pretty" in sys.modules or "attr" in sys.modules:  # too late, or nothing to save
        return
    sys.modules["attr"] = None  # type: ignore[assignment]  # `import attr` raises ImportError
    try:
        import rich.pretty  # noqa: F401, PLC0415
    finally:
        del sys.modules["attr"]


import_without_attrs()
