"""Past decisions: the list of every bot's stored decisions (``d`` on the Audit screen), newest
first (the newest 500, of all bots or of the bot picked in the filter, and how many are stored),
and a decision's detail (``enter`` on a row): its verdict, the parsed decision, the prompt and
the raw reply as stored, all in one scrollable view, long text wrapped. The ledger keeps the
first 8,000 characters of a prompt or reply (engine/llm/strategy.py ``CAP``) and not the
original length: a text of exactly that length is marked where it may be cut.

The database is read on a thread worker (group "decisions") through app/decisions.py, as the
Audit screen reads it; the UI never awaits it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Select, Static

from oxbot.app import decisions
from oxbot.engine.errors import OxbotError
from oxbot.engine.models import DecisionRecord


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


class DecisionsScreen(Screen[None]):
    """Every bot's stored decisions, newest first; enter opens one."""

    DEFAULT_CSS = """
    DecisionsScreen #decisions-title { text-style: bold; padding: 0 1; }
    DecisionsScreen #decisions-note { padding: 0 1; color: $text-muted; }
    DecisionsScreen #decisions-bot { width: 40; }
    DecisionsScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="decisions.close"),
        Binding("r", "reload", "Again", id="decisions.again", tooltip="Read the decisions again"),
    ]

    def __init__(self, db_path: Path | None) -> None:
        super().__init__()
        self._db = db_path
        self.records: list[DecisionRecord] | None = None
        self.bot: str | None = None  # the bot filter; None: every bot
        self._bots: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(
            "Decisions: newest first, enter for the prompt and reply", id="decisions-title"
        )
        yield Select[str]([], prompt="all bots", id="decisions-bot")
        yield Static("reading...", id="decisions-note")
        table: DataTable[str | Text] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Time (UTC)", "Bot", "Source", "Actions", "Verdict")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        if self._db is None:
            self._note("no database known to this cockpit")
            return
        self._note("reading...")
        self._read(self._db, self.bot)

    def on_select_changed(self, event: Select.Changed) -> None:
        bot = event.value if isinstance(event.value, str) else None
        if bot != self.bot:
            self.bot = bot
            self.action_reload()

    @work(thread=True, group="decisions", exclusive=True, exit_on_error=False)
    def _read(self, db: Path, bot: str | None) -> None:
        try:
            got = decisions.decision_list(db, bot)
        except OxbotError as e:
            self.app.call_from_thread(self._note, f"could not read the decisions: {e}")
            return
        self.app.call_from_thread(self._done, got)

    def _done(self, got: decisions.DecisionList) -> None:
        records = got.records
        if got.bots != self._bots:  # the filter's choices: every bot of the database
            self._bots = got.bots
            with self.prevent(Select.Changed):
                select = self.query_one("#decisions-bot", Select)
                select.set_options((b, b) for b in got.bots)
                if self.bot in got.bots:
                    select.value = self.bot
        self.records = records
        table = self.query_one(DataTable)
        table.clear()
        for i, d in enumerate(records):
            table.add_row(_utc(d.ts), d.bot, d.source, d.actions, _verdict(d.verdict), key=str(i))
        self._note(_count(len(records), got.total, self.bot))
        table.focus()

    def _note(self, text: str) -> None:
        self.query_one("#decisions-note", Static).update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.records and event.row_key.value is not None:
            self.app.push_screen(DecisionScreen(self.records[int(event.row_key.value)]))


def _count(shown: int, total: int, bot: str | None) -> str:
    """``newest 500 of 2,726 decisions`` when not all are listed."""
    whose = f" of {bot}" if bot else ""
    if not total:
        return f"no decisions{whose} stored yet"
    if shown < total:
        return f"newest {shown:,} of {total:,} decisions{whose} (pick a bot above to see its own)"
    return f"{total:,} decisions{whose}"


def _verdict(status: str) -> Text:
    style = {"approved": "green", "clamped": "yellow", "rejected": "red"}.get(status, "")
    return Text(status or "hold", style=style)


class DecisionScreen(ModalScreen[None]):
    """One decision in full: verdict, parsed decision, prompt and raw reply."""

    DEFAULT_CSS = """
    DecisionScreen #decision-box {
        width: 95%; height: 95%; border: thick $primary; background: $surface; padding: 0 1;
    }
    DecisionScreen #decision-title { text-style: bold; }
    DecisionScreen #decision-scroll { height: 1fr; }
    DecisionScreen .decision-head { text-style: bold; color: $accent; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close", id="decision.close")]

    def __init__(self, record: DecisionRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        d = self.record
        with Vertical(id="decision-box"):
            yield Static(Text(title(d)), id="decision-title")
            with VerticalScroll(id="decision-scroll"):
                for i, (head, body) in enumerate(sections(d)):
                    yield Static(Text(head), classes="decision-head")
                    yield Static(Text(body), id=f"decision-part-{i}")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#decision-scroll", VerticalScroll).focus()


def title(d: DecisionRecord) -> str:
    model = f"  {d.provider} {d.model}".rstrip() if d.provider or d.model else ""
    cost = f"  {d.tokens_in:,} in / {d.tokens_out:,} out, ${d.cost:.4f}" if d.tokens_in else ""
    return f"{d.bot}  {_utc(d.ts)} UTC  {d.source}{model}{cost}"


def sections(d: DecisionRecord) -> Sequence[tuple[str, str]]:
    """(heading, text) of each part shown, in order; the text whole."""
    reasons = "\n".join(r.strip() for r in d.verdict_reasons.split("; ") if r.strip())
    verdict = (d.verdict or "hold (nothing to check)") + (f"\n{reasons}" if reasons else "")
    if d.order_ids:
        verdict += f"\norders: {d.order_ids}"
    parts = [("Verdict", verdict), ("Parsed decision", _parsed(d))]
    if d.reasoning:
        parts.append(("Reasoning", d.reasoning))
    if d.error:
        parts.append(("Error", d.error))
    if d.flags:
        parts.append(("Flags", d.flags))
    parts.append(_stored("Prompt", d.prompt, "(none stored: a rule decides without a prompt)"))
    parts.append(_stored("Raw reply", d.raw_reply, "(none stored)"))
    return parts


def _stored(head: str, text: str, none: str) -> tuple[str, str]:
    """A stored prompt or raw reply; one the ledger's length is marked where it may be cut."""
    if not text:
        return head, none
    if not decisions.maybe_cut(text):
        return head, text
    cap = f"{decisions.STORED_CAP:,}"
    return (
        f"{head} (may be cut at {cap} characters)",
        f"{text}\n[… may be cut here: the ledger keeps the first {cap} characters]",
    )


def _parsed(d: DecisionRecord) -> str:
    """The stored parsed reply, indented; the actions when there is none (a rule)."""
    if d.parsed and d.parsed != "null":
        try:
            return json.dumps(json.loads(d.parsed), indent=2, ensure_ascii=False)
        except ValueError:
            return d.parsed
    return "actions: " + d.actions
