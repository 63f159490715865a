"""The Arena screen (A on the dashboard): pick an arena file, run it in a thread worker (never on
the UI loop) with a progress bar, and read the leaderboard (sortable: s, or a click on a
header) over the contestants' overlaid equity curves, the buy-and-hold baseline among them.

The runner is handed in (``ArenaScreen(runner=...)``): a function of the file's path and a
progress callback, returning the finished oxbot.app.arena_model.ArenaResult; it calls the
callback with the partial result as contestants finish, so the leaderboard fills in live.
Escape during a run cancels it (the next progress call raises in the worker thread).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Static

from oxbot.app.arena_model import SORT_KEYS, ArenaResult
from oxbot.engine.errors import OxbotError

from ..formatting import money
from ..widgets.arena_chart import ArenaChart, legend
from ..widgets.arena_table import ArenaTable, best_first

Progress = Callable[[ArenaResult], None]
Runner = Callable[[Path, Progress], ArenaResult]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "arena.toml"


def default_runner(path: Path, progress: Progress) -> ArenaResult:
    """The real arena: oxbot.app.arena (what `oxbot arena FILE.toml` runs)."""
    from oxbot.app.arena import load_arena, run_arena  # noqa: PLC0415

    return run_arena(load_arena(path), progress=progress)


def default_path() -> str:
    return str(EXAMPLE) if EXAMPLE.is_file() else ""


def progress_text(r: ArenaResult) -> str:
    """``2/5 contestants finished · 14 model calls, $0.03 spent (escape cancels)``: the calls
    and dollars of this run (replies read from the cache cost nothing), when the runner says."""
    text = f"{r.done}/{r.total} contestants finished"
    calls = r.calls_now
    if calls:
        text += f" · {calls:,} model call{'s' if calls != 1 else ''}"
        text += f", ${money(r.spent_now)} spent"
    return text + " (escape cancels)"


class ArenaCancelled(Exception):
    """Raised in the worker thread by the progress callback once escape asked to stop."""


def summary_text(r: ArenaResult) -> Text:
    """What ran, on what and for how long, and which contestants could not run."""
    # whole days when it spans days, else the hours too
    day = "%Y-%m-%d" if r.last_ms - r.first_ms >= 3 * 86_400_000 else "%Y-%m-%d %H:%M"
    t = Text()
    t.append(f"{r.title or 'Arena'}", style="bold")
    period = ""
    if r.first_ms and r.last_ms:
        first = datetime.fromtimestamp(r.first_ms / 1000, UTC).strftime(day)
        last = datetime.fromtimestamp(r.last_ms / 1000, UTC).strftime(day)
        period = f" · {first}..{last}"
    t.append(
        f" · {r.market} · {', '.join(r.symbols)} {r.timeframe}{period} · {money(r.start_cash)} each"
    )
    for note in r.notes:
        t.append(f"\n⚠ {note}", style="bold")
    for row in r.rows:
        if row.error is not None:
            t.append(f"\n✖ {row.name}: {row.error}", style="bold")
    return t


class ArenaScreen(Screen[None]):
    DEFAULT_CSS = """
    ArenaScreen #ar-file { height: 1; padding: 0 1; }
    ArenaScreen #ar-file Label { width: 12; text-style: bold; }
    ArenaScreen #ar-path { width: 1fr; }
    ArenaScreen #ar-file Button { min-width: 8; height: 1; border: none; margin-left: 1; }
    ArenaScreen #ar-status { height: auto; padding: 0 1; }
    ArenaScreen #ar-progress { width: 34; height: 1; }
    ArenaScreen #ar-status-text { width: 1fr; height: auto; }
    ArenaScreen #ar-summary { height: auto; padding: 0 1; background: $panel; }
    ArenaScreen #ar-table { height: auto; max-height: 50%; }
    ArenaScreen #ar-chart { height: 1fr; min-height: 8; }
    ArenaScreen #ar-legend { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding(
            "escape",
            "back",
            "Back",
            id="arena.back",
            tooltip="Cancel the running arena; otherwise back to the dashboard",
        ),
        # not in the footer (the Run button beside the path says ^r): 80 columns keep every key
        Binding("ctrl+r", "run", "Run", id="arena.run", show=False, tooltip="Run the arena file"),
        Binding(
            "s",
            "sort",
            "Sort",
            id="arena.sort",
            tooltip="Rank the leaderboard by its next column",
        ),
        Binding(
            "ctrl+o",
            "export",
            "Export",
            id="arena.export",
            tooltip="Write the leaderboard as CSV, JSON and a Markdown report",
        ),
    ]

    class Progressed(Message):
        def __init__(self, result: ArenaResult) -> None:
            super().__init__()
            self.result = result

    class Finished(Message):
        def __init__(self, result: ArenaResult | None, error: str = "") -> None:
            super().__init__()
            self.result, self.error = result, error

    def __init__(self, runner: Runner = default_runner, path: str | None = None) -> None:
        super().__init__()
        self.runner = runner
        self.path = default_path() if path is None else path
        self.result: ArenaResult | None = None  # the latest, partial while running
        self.finished = False  # the result is the whole arena's
        self.running = False
        self.last_error = ""
        self.sort_key = SORT_KEYS[0]
        self.descending = best_first(self.sort_key)
        self.order: list[str] = []  # the leaderboard's names, top first
        # (done, rows, newest time) of this run's last drawing: a replayed arena is drawn again
        # when a contestant finished, a live one when its board was read again
        self._drawn: tuple[int, int, int] | None = None
        self._bar = 0.0  # how far this run is, 0..1
        self._cancel = threading.Event()
        self.last_export: Path | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="ar-file"):
            yield Label("Arena file")
            yield Input(self.path, placeholder="an arena file (.toml)", id="ar-path", compact=True)
            yield Button("Run ^r", id="ar-run", variant="primary", compact=True)
        with Horizontal(id="ar-status"):
            yield ProgressBar(total=1, show_eta=False, id="ar-progress")
            yield Static("", id="ar-status-text")
        yield Static("", id="ar-summary")
        yield ArenaTable(id="ar-table")
        yield ArenaChart(id="ar-chart")
        yield Static("", id="ar-legend")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#ar-progress", ProgressBar).display = False
        self.query_one("#ar-summary").display = False
        self._status("Pick an arena file, then ctrl+r (or Run).")
        self.query_one("#ar-chart", ArenaChart).show(None)
        self.watch(self.app, "theme", self._recolour, init=False)
        self.query_one("#ar-path", Input).focus()

    def _status(self, text: str | Text) -> None:
        self.query_one("#ar-status-text", Static).update(text)

    # ------------------------------------------------------------------ running

    @on(Input.Submitted, "#ar-path")
    @on(Button.Pressed, "#ar-run")
    def action_run(self) -> None:
        if self.running:
            return
        path = self.query_one("#ar-path", Input).value.strip()
        if not path:
            self._error("give the path of an arena file (.toml)")
            return
        self.running, self.finished, self.last_error = True, False, ""
        self._drawn = None
        self._bar = 0.0
        self._cancel = threading.Event()
        bar = self.query_one("#ar-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._status("Starting the arena… (escape cancels)")
        self.query_one("#ar-run", Button).disabled = True
        self.query_one("#ar-table", ArenaTable).focus()  # s ranks the partial leaderboard
        self.refresh_bindings()
        # the worker starts once the bar is laid out: a bar rounds its value to its width,
        # and a value set before it has one is kept unrounded (the same run, another picture)
        self.call_after_refresh(self._run, Path(path).expanduser(), self._cancel)

    @work(thread=True, group="arena", exclusive=True, exit_on_error=False)
    def _run(self, path: Path, cancel: threading.Event) -> None:
        last = [0.0, -1.0]  # when the UI was last told, and how many had finished then

        def progress(partial: ArenaResult) -> None:
            if cancel.is_set():
                raise ArenaCancelled
            now = time.monotonic()
            # at most ten UI updates a second, and every contestant that finishes
            if partial.done != last[1] or now - last[0] >= 0.1:
                last[0], last[1] = now, partial.done
                # a copy: the runner goes on filling its own lists in this thread
                copy = dataclasses.replace(partial, rows=list(partial.rows))
                copy.curves = list(partial.curves)
                self.post_message(self.Progressed(copy))

        try:
            if not path.is_file():
                raise OxbotError(f"no arena file at {path}")
            result = self.runner(path, progress)
        except ArenaCancelled:
            self.post_message(self.Finished(None, "cancelled"))
            return
        except (OxbotError, OSError, ValueError) as e:  # a bad file: the user's to fix
            self.post_message(self.Finished(None, str(e)))
            return
        except Exception as e:  # never a stuck "running"
            self.post_message(self.Finished(None, f"{type(e).__name__}: {e}"))
            return
        self.post_message(self.Finished(result))

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        if not self.running:
            return
        r = event.result
        # contestants finished, or (finer) how far through their candles they are
        # (app/arena.py's fraction, which leaves the baseline out); never backwards
        done = r.done / r.total if r.total else 0.0
        self._bar = max(self._bar, done, r.fraction)
        self.query_one("#ar-progress", ProgressBar).update(
            total=1000, progress=round(self._bar * 1000)
        )
        self._status(progress_text(r))
        if self._drawn != (r.done, len(r.rows), r.last_ms):  # (only then: plotext is slow)
            self._drawn = (r.done, len(r.rows), r.last_ms)
            self._show(r)

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        self.running = False
        self.query_one("#ar-progress", ProgressBar).display = False
        self.query_one("#ar-run", Button).disabled = False
        if event.result is None:
            if event.error == "cancelled":
                self._status(Text("Arena cancelled.", style="bold"))
                self.last_error = "cancelled"
            else:
                self._error(event.error)
            self.refresh_bindings()
            return
        self.finished = True
        self._status("")
        self.query_one("#ar-status").display = False
        self._show(event.result)
        self.query_one("#ar-table", ArenaTable).focus()
        self.refresh_bindings()

    def _error(self, text: str) -> None:
        self.last_error = text
        self.query_one("#ar-status").display = True
        self._status(Text(f"✖ {text}", style="bold"))

    def action_back(self) -> None:
        if self.running:
            if not self._cancel.is_set():
                self._cancel.set()
                self._status("Cancelling the arena…")
            return
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._cancel.set()  # the app closing mid-run: the worker stops at its next progress

    # ------------------------------------------------------------------ results

    def _show(self, result: ArenaResult) -> None:
        first, self.result = self.result is None, result
        if first:
            self.refresh_bindings()  # s can rank the rows now
        summary = self.query_one("#ar-summary", Static)
        summary.update(summary_text(result))
        summary.display = True
        self._table()
        self.query_one("#ar-chart", ArenaChart).show(result)
        self.query_one("#ar-legend", Static).update(legend(result))

    def _table(self) -> None:
        if self.result is not None:
            table = self.query_one("#ar-table", ArenaTable)
            rows = table.show(self.result, self.sort_key, self.descending)
            self.order = [r.name for r in rows]

    def _recolour(self) -> None:
        if self.result is not None:
            self._table()

    def sort_by(self, key: str) -> None:
        """Rank by ``key``, best first; by the same key again: the other way round."""
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, best_first(key)
        self._table()

    def action_sort(self) -> None:
        nxt = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.sort_by(nxt)
        self.notify(
            f"ranked by {nxt} ({'high' if self.descending else 'low'} first)",
            timeout=2,
            markup=False,
        )

    @on(DataTable.HeaderSelected, "#ar-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORT_KEYS:
            self.sort_by(key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sort":
            return True if self.result is not None else None
        if action == "export":
            return True if self.finished else None
        if action == "run":
            return not self.running
        return True

    # ------------------------------------------------------------------ export

    def action_export(self) -> None:
        if not self.finished or self.result is None:
            self.notify("Run an arena first.", severity="warning")
            return
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = "".join(ch if ch.isalnum() else "-" for ch in self.result.title or "arena")
        base = f"{name.strip('-') or 'arena'}_{stamp}"
        self._export(self.result, base, self.sort_key, self.descending)

    @work(thread=True, group="arena-export", exit_on_error=False)
    def _export(self, result: ArenaResult, name: str, sort: str, descending: bool) -> None:
        """``<data dir>/arenas/<name>.csv``, ``.json`` and ``.md`` (the folder made here, off the
        UI), written by oxbot.app.arena_export (export_arena)."""
        from oxbot.storage.paths import data_dir  # noqa: PLC0415 - path maths, the folder

        base = data_dir() / "arenas" / name
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            written = export_arena(result, base, sort, descending)
        except (OSError, OxbotError, ImportError) as e:
            self.app.call_from_thread(
                self.notify, f"Export failed: {e}", severity="error", timeout=10, markup=False
            )
            return
        self.last_export = base
        self.app.call_from_thread(
            self.notify,
            "Wrote " + ", ".join(str(p) for p in written),
            title="Arena exported",
            timeout=10,
            markup=False,
        )


def export_arena(result: ArenaResult, base: Path, sort: str, descending: bool) -> list[Path]:
    """The arena's CSV, JSON and Markdown report (with its SVG chart) named ``base`` + suffix,
    ranked as on screen, written by oxbot.app.arena_export.write (what `oxbot arena --out`
    writes). Returns the files written."""
    from oxbot.app import arena_export  # noqa: PLC0415

    written: list[Path] = []
    for suffix in (".csv", ".json", ".md"):
        written += arena_export.write(result, base.with_name(base.name + suffix), sort, descending)
    return written
