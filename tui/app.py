"""OxbotApp: wiring only. The engine client, the event inbox, the state, themes, settings.

Everything slow (engine start/stop, settings writes, keyring) runs in named thread workers; one
handler turns any worker failure into a toast. The rules live in small classes of their own:
redraw coalescing (redraw.py), toast throttling (toasts.py), engine hosting (hosting.py); what
screens may ask of the app is the Cockpit protocol (cockpit.py).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.css.stylesheet import StylesheetError
from textual.css.tokenizer import TokenError
from textual.message import Message
from textual.worker import Worker, WorkerState

from oxbot.engine.clock import Clock, WallClock
from oxbot.themes import BUILTIN_THEMES, DEFAULT_THEME, VARIABLE_DEFAULTS, load_user_themes

from . import rich_pretty  # noqa: F401 - before the dashboard's RichLog imports rich.pretty
from . import state as state_module
from .commands import OxbotCommands
from .event_inbox import EventInbox
from .hosting import EngineHost
from .messages import EngineEventsArrived
from .redraw import RedrawCoalescer
from .screens.confirm import ConfirmScreen
from .screens.dashboard import DashboardScreen
from .screens.help import HelpScreen, binding_rows, key_display
from .screens.keys import KeysScreen
from .screens.reconcile import ReconcileScreen
from .screens.stop_dialogs import HOLD_LEASE_S, PanicScreen, QuitScreen
from .settings_bridge import SettingsBridge
from .state import DashboardState, Toast
from .toasts import ToastThrottle

if TYPE_CHECKING:  # the engine's messages load after the first frame (its first use)
    from oxbot.engine import messages as m
    from oxbot.engine.client import EngineClient

INPUT_EVENTS = (events.Key, events.MouseDown, events.Resize)
# Absolute, so subclasses in other folders (tests, bench) find them too.
STYLES = [
    Path(__file__).parent / "styles" / f for f in ("app.tcss", "dashboard.tcss", "dialogs.tcss")
]


class OxbotApp(App[int]):
    """The cockpit. ``client`` is any EngineClient (in-process engine, socket, test double)."""

    TITLE = "oxbot"
    CSS_PATH = STYLES  # type: ignore[assignment]
    COMMANDS = {OxbotCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        # q quits a cockpit that hosts the engine, and detaches one attached to a headless
        # engine (which keeps running): one binding each, check_action shows the one that is
        # true here, in the footer, the help and the palette alike.
        Binding(
            "q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit (stops the engine of this cockpit; asks while bots run)",
        ),
        Binding(
            "q",
            "detach",
            "Detach",
            id="app.detach",
            tooltip="Detach: close this cockpit, the headless engine keeps running",
        ),
        Binding(
            "ctrl+c",
            "quit",
            "Quit",
            id="app.quit_ctrl_c",
            show=False,
            priority=True,
            tooltip="Quit, like q",
        ),
        Binding(
            "ctrl+c",
            "detach",
            "Detach",
            id="app.detach_ctrl_c",
            show=False,
            priority=True,
            tooltip="Detach, like q",
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Show every key"),
        Binding("t", "cycle_theme", "Theme", id="app.theme", tooltip="Next colour theme"),
        Binding(
            "K",
            "keys",
            "Keys",
            id="app.keys",
            tooltip="API keys in the OS keyring: set, reveal, delete",
        ),
        Binding(
            "r",
            "reconcile",
            "Reconcile",
            id="app.reconcile",
            tooltip="LIVE: adopt or ignore the differences with the exchange",
        ),
        Binding(
            "ctrl+x",
            "panic",
            "PANIC",
            id="app.panic",
            priority=True,
            tooltip="PANIC: stop every bot and flatten every position (asks first)",
        ),
        Binding(
            "a",
            "audit",
            "Audit",
            id="app.audit",
            show=False,
            tooltip="Audit every bot over 24 h: crashes, SL/TP, drift, holding time, cycles",
        ),
        Binding(
            "b",
            "backtest",
            "Backtest",
            id="app.backtest",
            tooltip="Backtest a strategy over a CSV of candles",
        ),
        Binding(
            "A",
            "arena",
            "Arena",
            id="app.arena",
            show=False,
            tooltip="Arena: run contestants on the same candles, a leaderboard with a baseline",
        ),
    ]

    def __init__(
        self,
        client: EngineClient,
        *,
        settings: Any = None,
        clock: Clock | None = None,
        settle_heap: bool = False,
        notices: list[str] | None = None,
        db_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.db_path = db_path  # the database the Audit screen reads
        self.host = EngineHost(client, settle_heap=settle_heap)
        self.ui_loop: asyncio.AbstractEventLoop | None = None  # for a signal handler to reach
        self.keymap: dict[str, str] = {}  # what set_keymap was given (help, palette)
        self.clock: Clock = clock or WallClock()
        self.state = DashboardState()
        self.inbox = EventInbox(self.post_message)
        self.settings = SettingsBridge(settings)
        self._theme_names = [t.name for t in BUILTIN_THEMES]
        self._settings_notices = list(notices or [])  # a broken settings.json, in words
        self._theme_notices = self._install_themes()
        self.dashboard: DashboardScreen | None = None
        self.redraws = RedrawCoalescer(self._draw, self.set_timer)
        self.last_input = 0.0  # time.monotonic() of the last key, click or resize
        self.toasts = ToastThrottle(self._show, self.set_timer)

    # ------------------------------------------------------------------ start / stop

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def _install_themes(self) -> list[str]:
        """Register built-in and user themes and pick the saved one; returns notices.

        Runs in __init__, before the first widget exists: a widget that reads the theme at
        mount (the plotext chart) must never see Textual's default one.
        """
        for theme in BUILTIN_THEMES:
            self.register_theme(theme)
        themes, notices = load_user_themes(self.settings.themes_dir)
        for theme in themes:
            self.register_theme(theme)
            self._theme_names.append(theme.name)
        wanted = self.settings.theme or DEFAULT_THEME
        if wanted not in self._theme_names:
            notices.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted
        return notices

    def refresh_css(self, animate: bool = True) -> None:
        """A theme whose values still break the stylesheet (a check the loader missed) falls
        back to the default with a notice: a colour must never end the app, nor the engine it
        hosts."""
        try:
            if self.screen_stack:
                super().refresh_css(animate)
            else:
                self._parse_css_first()
        except (StylesheetError, TokenError) as e:
            if self.theme == DEFAULT_THEME:
                raise
            bad = self.theme
            if bad in self._theme_names:
                self._theme_names.remove(bad)
            self.theme = DEFAULT_THEME
            if not self.screen_stack:  # the first screen parses next: with the default's values
                self._parse_css_first()
            self.notify(
                f"theme {bad!r} breaks the stylesheet ({str(e).splitlines()[0]}); "
                f"using {DEFAULT_THEME}",
                title="theme",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def _parse_css_first(self) -> None:
        """The theme's first refresh, before any screen: Textual's refresh_css parses into a
        throwaway stylesheet (so a bad one never replaces a good one, which matters only once
        something is drawn) and leaves the app's own parse cache empty, so the first screen's
        parse read every stylesheet again. Parsed in place here, the screens and widgets that
        mount next parse only their own DEFAULT_CSS. (Read in Textual 8.2: App.refresh_css,
        Stylesheet.reparse, parse and its _parse_cache, add_source's _require_parse.)"""
        stylesheet = self.stylesheet
        stylesheet.set_variables(self.get_css_variables())
        stylesheet.parse()
        stylesheet.update(self, animate=False)

    def set_keymap(self, keymap: Mapping[str, str]) -> None:
        self.keymap = dict(keymap)
        super().set_keymap(keymap)

    def on_load(self) -> None:
        self.ui_loop = asyncio.get_running_loop()

    def on_mount(self) -> None:
        for notice in self._settings_notices:
            self.notify(notice, title="settings", severity="warning", timeout=12, markup=False)
        for notice in self._theme_notices:
            self.notify(notice, title="theme", severity="warning", timeout=8, markup=False)
        keymap = self.settings.keymap
        if keymap:
            self.set_keymap(keymap)
        self.dashboard = DashboardScreen()
        self.install_screen(self.dashboard, name="dashboard")
        self.push_screen("dashboard")
        self.call_after_refresh(self._start_engine)  # after the first frame is drawn

    @work(thread=True, group="engine", exit_on_error=False)
    def _start_engine(self) -> None:
        try:
            self.host.start(self.inbox.listener)
        except Exception:
            if getattr(self.client, "fatal_start", False):  # the CLI prints why (cli/tui.py)
                self.call_from_thread(self.exit, 1)
            raise
        # LIVE bots reconcile before a display listens: ask for what is still undecided
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        self.call_from_thread(self.send, m.RequestReconcile(), "reconcile", quiet=True)

    @work(thread=True, group="engine", exit_on_error=False)
    def _stop_engine_and_exit(self) -> None:
        try:
            self.host.stop(10.0)
        finally:
            self.call_from_thread(self.exit, 0)

    async def action_quit(self) -> None:
        """Quit; while bots run in this process, ask first (a second q or ctrl+c, with the
        question open, quits)."""
        if self.client.attached:
            await self.action_detach()
            return
        running = self.state.active_bots()
        if running and not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(running), self._quit_answered)
            return
        self._quit_now()

    def _quit_answered(self, ok: bool | None) -> None:
        if ok:
            self._quit_now()

    def _quit_now(self) -> None:
        self.notify("Quitting: stopping the engine (bots' state saved)…", timeout=10)
        self._stop_engine_and_exit()

    async def action_detach(self) -> None:
        self.notify(
            "Detaching: the engine keeps running (`oxbot attach` to come back)…", timeout=10
        )
        self._stop_engine_and_exit()

    # ------------------------------------------------------------------ engine events

    @on(EngineEventsArrived)
    def _events_arrived(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        dirty: set[str] = set()
        toasts: list[Toast] = []
        for event in self.inbox.drain():
            if isinstance(event, m.CommandDone) and self.dashboard is not None:
                self.dashboard.command_done(event)
            changed, new = self.state.apply(event)
            dirty |= changed
            toasts += new
        if not self.screen_stack:  # the app is closing: events still arriving change state only
            self.redraws.hold(dirty)
            return
        self.toasts.add(toasts, plain_fills=self._plain_fill_toasts_wanted())
        self._ask_history()
        if dirty & {"reconcile", "reconcile-new"}:
            self._reconcile_changed("reconcile-new" in dirty)
        self.redraws.request(dirty)

    def _ask_history(self) -> None:
        """The stored equity curve and decisions of bots seen for the first time (the chart
        and the reasoning panel are otherwise empty after a start or an attach)."""
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if self.state.fills_history_wanted:  # the Fills panel after a restart / attach
            self.state.fills_history_wanted = False
            self.send(
                m.RequestRecentFills(limit=state_module.FILLS_KEPT), "recent fills", quiet=True
            )
        wanted, self.state.history_wanted = self.state.history_wanted, set()
        for bot in sorted(wanted):
            self.send(
                m.RequestEquityHistory(bot=bot, limit=state_module.EQUITY_POINTS),
                f"equity history of {bot}",
                quiet=True,
            )
            self.send(
                m.RequestDecisionHistory(bot=bot, limit=state_module.ENTRIES_KEPT),
                f"reasoning history of {bot}",
                quiet=True,
            )

    def _reconcile_changed(self, news: bool) -> None:
        self.refresh_bindings()
        screen = next((s for s in self.screen_stack if isinstance(s, ReconcileScreen)), None)
        if screen is not None:
            screen.call_later(screen.refresh_items)
        elif news and self.state.reconcile:
            self.push_screen(ReconcileScreen())

    def action_backtest(self) -> None:
        # both modules load on first use (the backtest API, plotext: not for the first frame)
        from .screens.backtest import BacktestScreen  # noqa: PLC0415
        from .screens.sweep import SweepScreen  # noqa: PLC0415

        if not isinstance(self.screen, BacktestScreen | SweepScreen):  # b on the sweep: its own
            self.push_screen(BacktestScreen())

    def action_arena(self) -> None:
        from .screens.arena import ArenaScreen  # noqa: PLC0415 - its module loads on first use

        if not isinstance(self.screen, ArenaScreen):
            self.push_screen(ArenaScreen())

    def action_reconcile(self) -> None:
        if self.state.reconcile and not isinstance(self.screen, ReconcileScreen):
            self.push_screen(ReconcileScreen())

    def foreground_busy(self) -> None:
        """A key or a frame to handle: a max-speed replay in this process naps until the screen
        is refreshed (engine/foreground.py), so drawing gets the interpreter to itself."""
        self.host.busy(self.call_after_refresh)

    def _post_message(self, message: Message) -> Coroutine[Any, Any, bool]:
        """Textual's input thread builds this coroutine for the app's loop: a key or a click marks
        the UI busy right there, so a max-speed replay steps aside before the app even wakes
        (waking it needs the interpreter lock the replay holds)."""
        host: EngineHost | None = getattr(self, "host", None)  # posted to before __init__ ends
        foreground = host.foreground if host is not None else None
        if foreground is not None and isinstance(message, INPUT_EVENTS):
            foreground.busy()
        return super()._post_message(message)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, INPUT_EVENTS):
            self.last_input = time.monotonic()
            self.foreground_busy()
            self._input_first()
        await super().on_event(event)

    def _input_first(self) -> None:
        """A key, click or resize: its own frame goes first. Engine events meanwhile only mark
        panels dirty (a status change still draws the bots table at once: space's effect); the
        coalesced redraw comes once that frame is on screen (tui/redraw.py)."""
        self.redraws.defer()  # for MAX_DEFER_S at most, should the callback never come
        self.call_after_refresh(self.redraws.resume)

    def _draw(self, dirty: set[str]) -> None:
        """The redraw coalescer's output: the dashboard repaints what changed."""
        dashboard = self.dashboard
        if dashboard is not None and dashboard.is_mounted and self.is_running:
            dashboard.redraw(dirty)

    def _plain_fill_toasts_wanted(self) -> bool:
        """Plain fills are toasted only on the dashboard while its Fills panel is hidden (the
        compact layout on another tab); never over a dialog. SL/TP hits are always toasted."""
        dashboard = self.dashboard
        if dashboard is None or self.screen is not dashboard or not dashboard.compact:
            return False
        return not dashboard.query_one("#fills").has_class("current")

    def clear_notifications(self) -> None:
        """Clear the toasts on screen and the trade toasts held back for the next batch."""
        self.toasts.clear()
        super().clear_notifications()

    def _show(self, t: Toast) -> None:
        # markup=False: engine and user text ("oxbot[cryptfile]", "[env]") shows as written
        self.notify(
            t.message,
            title=t.title,
            severity=t.severity,  # type: ignore[arg-type]
            timeout=8 if t.severity == "error" else 3,
            markup=False,
        )

    def send(self, command: m.Command, what: str, *, quiet: bool = False) -> str:
        """Submit a command; the CommandDone toast names ``what`` the user asked for (only a
        failure is toasted when ``quiet``: the table shows the success)."""
        rid = uuid.uuid4().hex[:12]
        cmd = type(command)(**{**_fields(command), "request_id": rid})
        self.state.pending[rid] = what
        if quiet:
            self.state.quiet.add(rid)
        self.client.submit(cmd)
        return rid

    # ------------------------------------------------------------------ app-wide actions

    def action_help(self) -> None:
        app_bindings = [
            b
            for b in _bindings(self.BINDINGS)  # Quit or Detach, as q does here
            if self.check_action(b.action, ()) is not False
        ]
        rows = binding_rows(
            app_bindings,
            _bindings(DashboardScreen.BINDINGS),
            self.keymap,
            lambda key: key_display(self, key),
        )
        rows.append(
            (key_display(self, "ctrl+p"), "Command palette: every action by name", "app.palette")
        )
        self.push_screen(HelpScreen(rows))

    def action_audit(self) -> None:
        from .screens.audit import AuditScreen  # noqa: PLC0415 - its module loads on first use

        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(self.db_path))

    def action_keys(self) -> None:
        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen())

    def action_cycle_theme(self) -> None:
        names = self._theme_names
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.theme = nxt
        self.notify(f"theme: {nxt}", timeout=2, markup=False)
        self._save_theme(nxt)

    @work(thread=True, group="settings", exit_on_error=False)
    def _save_theme(self, name: str) -> None:
        self.settings.save_theme(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("quit", "detach"):  # hidden (False): q shows the one that applies
            return (action == "detach") == self.client.attached
        if action == "panic":
            return True if self.state.bots else None
        if action == "reconcile":
            return bool(self.state.reconcile)  # in the footer only when there is something
        return True

    def action_panic(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if isinstance(self.screen, ConfirmScreen):
            return

        def answered(ok: bool | None) -> None:
            if ok:
                self.send(m.PanicAll(), "PANIC")
                self.notify(
                    "PANIC sent: stopping every bot and flattening… waiting for "
                    "the engine to confirm.",
                    title="PANIC",
                    severity="warning",
                    timeout=10,
                )

        def counts() -> tuple[int, int]:
            return self.state.active_bots(), len(self.state.positions)

        def hold(on: bool) -> None:
            self.send(m.HoldDecisions(hold=on, seconds=HOLD_LEASE_S), "hold decisions", quiet=True)

        self.push_screen(PanicScreen(counts, hold), answered)

    # ------------------------------------------------------------------ failures

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{type(error).__name__}: {error}",
                title=f"{event.worker.group} failed",
                severity="error",
                timeout=10,
                markup=False,
            )


def _bindings(items: list[Any]) -> list[Binding]:
    return [b for b in items if isinstance(b, Binding)]


def _fields(command: m.Command) -> dict[str, Any]:
    return {name: getattr(command, name) for name in command.__dataclass_fields__}


def run_app(
    client: EngineClient,
    settings: Any = None,
    *,
    app_holder: dict[str, Any] | None = None,
    clock: Clock | None = None,
    notices: list[str] | None = None,
    db_path: Path | None = None,
) -> int:
    """Run the cockpit until the user quits; the engine is stopped whatever ends the app.

    ``app_holder["app"]`` is set to the app so a caller's signal handler can reach it; without
    a holder, SIGTERM is handled here (the app exits, the engine stops, the terminal is restored).
    """
    app = OxbotApp(
        client, settings=settings, clock=clock, settle_heap=True, notices=notices, db_path=db_path
    )
    previous = None
    if app_holder is not None:
        app_holder["app"] = app
    else:

        def on_sigterm(_signum: int, _frame: object) -> None:
            loop = app.ui_loop
            if loop is not None:
                loop.call_soon_threadsafe(app.exit, 0)

        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = app.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            app.host.stop(10.0)
        except Exception:  # already stopped or failing: the terminal is restored regardless
            pass
    return int(code or app.return_code or 0)
