"""The Audit screen (``a``): the five checks of `oxbot audit` (oxbot.app.audit) for every bot over
the last 24 h, as a PASS/FAIL table with the figures. The database is read on a thread worker
(group "audit"), never on the UI loop; ``r`` reads it again; ``d`` lists the stored decisions
(tui/screens/decision.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from oxbot.app import audit
from oxbot.app.audit import BotAudit
from oxbot.engine.errors import OxbotError

HOURS = 24.0


class AuditScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="audit.close"),
        Binding("r", "refresh_audit", "Again", id="audit.again", tooltip="Audit again"),
        Binding(
            "d",
            "decisions",
            "Decisions",
            id="audit.decisions",
            tooltip="Past decisions: prompt, raw reply, parsed decision and verdict",
        ),
    ]

    def __init__(self, db_path: Path | None, hours: float = HOURS) -> None:
        super().__init__()
        self._db = db_path
        self._hours = hours
        self.results: list[BotAudit] | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Audit: the last {self._hours:g} h", id="audit-title")
        with VerticalScroll():
            yield Static("auditing...", id="audit-table")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh_audit()

    def action_decisions(self) -> None:
        from .decision import DecisionsScreen  # noqa: PLC0415 - its module loads on first use

        self.app.push_screen(DecisionsScreen(self._db))

    def action_refresh_audit(self) -> None:
        if self._db is None:
            self._show(Text("no database known to this cockpit: use `oxbot audit`"))
            return
        self.query_one("#audit-table", Static).update("auditing...")
        self._run(self._db)

    @work(thread=True, group="audit", exclusive=True, exit_on_error=False)
    def _run(self, db: Path) -> None:
        try:
            results = audit.audit_db(db, (), self._hours)
        except OxbotError as e:
            self.app.call_from_thread(self._show, Text(f"audit failed: {e}"))
            return
        self.app.call_from_thread(self._done, results)

    def _done(self, results: list[BotAudit]) -> None:
        self.results = results
        self._show(table(results) if results else Text("no bots to audit"))

    def _show(self, what: Table | Text) -> None:
        self.query_one("#audit-table", Static).update(what)


def table(results: Sequence[BotAudit]) -> Table:
    t = Table(expand=True, show_edge=False, pad_edge=False)
    t.add_column("Bot", no_wrap=True)
    t.add_column("Check", no_wrap=True)
    t.add_column("Result", no_wrap=True)
    t.add_column("Figure", ratio=1)
    for r in results:
        for i, c in enumerate(r.checks):
            mark = Text("PASS", style="bold green") if c.passed else Text("FAIL", style="bold red")
            t.add_row(r.bot if i == 0 else "", c.name, mark, c.figure)
        t.add_section()
    verdict = "PASS" if audit.all_passed(results) else "FAIL"
    t.caption = f"overall: {verdict}"
    return t
