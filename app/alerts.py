"""Alerts: engine events (fills, SL/TP exits, errors, budget pauses, PANIC, the engine stopping)
sent to the services traders use through apprise (Telegram, Discord, Slack, e-mail, ntfy, ...).

The engine never waits for a delivery. ``AlertService`` is an engine Service: its bus listener
(on the engine loop) only formats a line and appends it to each route's bounded queue (the
oldest dropped and counted beyond ``QUEUE_MAX``); each route delivers from its own daemon
thread. A route sends at most ``per_minute`` messages a minute: what piles up meanwhile goes in
one summary ("12 fills since the last message: ..."). A failed delivery is retried with a
doubling backoff (``RETRIES`` times, then dropped); repeated failures are published as a
warning Notice (a toast in the cockpit, a log line headless). When the engine stops, what is
queued is sent within ``FLUSH_S`` seconds, then abandoned.

apprise is imported inside the delivery threads only (`oxbot --help` stays fast).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from oxbot.engine.messages import (
    CommandDone,
    CycleFailed,
    EngineError,
    EngineStateChanged,
    Notice,
    OrderFilled,
)

log = logging.getLogger("oxbot.alerts")

QUEUE_MAX = 500  # alerts waiting per route; beyond, the oldest are dropped (counted)
RETRIES = 3  # attempts after the first failure of one message
BACKOFF_S = 2.0  # first wait after a failure; doubles up to BACKOFF_MAX_S
BACKOFF_MAX_S = 60.0
WINDOW_S = 60.0  # the rate limit's window
FLUSH_S = 3.0  # what a stopping engine gives its alerts
FAILURE_NOTICE_AFTER = 3  # failed deliveries in a row before the user is told
SUMMARY_LINES = 10
TITLE = "oxbot"
NOTICE_PREFIX = "alerts:"  # our own failure notices: never alerted on
KIND_WORDS = {
    "fill": ("fill", "fills"),
    "sl_tp": ("stop-loss/take-profit exit", "stop-loss/take-profit exits"),
    "error": ("error", "errors"),
    "budget": ("budget pause", "budget pauses"),
    "panic": ("PANIC", "PANICs"),
    "engine_stopped": ("engine stop", "engine stops"),
}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # one of storage.settings.ALERT_EVENTS
    text: str


def _d(x: Any) -> str:
    return f"{x.normalize():f}"


def alert_of(ev: Any) -> Alert | None:
    """The alert an engine event is worth, or None."""
    match ev:
        case OrderFilled():
            realised = f", realised {_d(ev.realised)}" if ev.realised else ""
            line = f"{ev.bot}: {ev.side} {_d(ev.qty)} {ev.symbol} @ {_d(ev.price)}{realised}"
            if ev.reason in ("stop_loss", "take_profit"):
                return Alert("sl_tp", f"{line} ({ev.reason.replace('_', '-')})")
            return Alert("fill", f"{line} ({ev.reason})" if ev.reason else line)
        case CycleFailed() if ev.consecutive == 1 or ev.consecutive % 10 == 0:
            first = ev.error.splitlines()[0] if ev.error else "unknown error"
            return Alert("error", f"{ev.bot}: cycle failed ({ev.consecutive} in a row): {first}")
        case EngineError():
            return Alert("error", ev.message)
        case Notice() if ev.message.startswith(NOTICE_PREFIX):
            return None
        case Notice() if "budget" in ev.message and " paused" in ev.message:
            return Alert("budget", ev.message)
        case CommandDone() if ev.command == "PanicAll":
            what = ev.message or "every bot stopped and its positions flattened"
            return Alert("panic", f"PANIC: {what}" if ev.ok else f"PANIC failed: {what}")
        case EngineStateChanged() if ev.state == "stopped":
            return Alert(
                "engine_stopped", "engine stopped" + (f": {ev.message}" if ev.message else "")
            )
    return None


def summary(alerts: list[Alert], dropped: dict[str, int] | None = None) -> str:
    """One message for a burst: how many of each kind (with those dropped from a full queue
    since the last message), then the newest lines."""
    if len(alerts) == 1 and not dropped:
        return alerts[0].text
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    for k, n in (dropped or {}).items():
        counts[k] = counts.get(k, 0) + n
    head = ", ".join(f"{n} {KIND_WORDS[k][n != 1]}" for k, n in counts.items())
    if dropped:
        head += f" ({sum(dropped.values()):,} of them dropped: the queue was full)"
    shown = alerts[-SUMMARY_LINES:]
    # A PANIC, an error or a stop older than the newest lines is still shown (first).
    older = [a for a in alerts[: -len(shown)] if a.kind not in ("fill", "sl_tp")]
    older = older[-SUMMARY_LINES:]
    lines = [a.text for a in (*older, *shown)]
    hidden = len(alerts) - len(shown) - len(older)
    if hidden:
        lines.insert(len(older), f"... {hidden} more not shown")
    return f"{head} since the last message:\n" + "\n".join(lines)


def deliver(url: str, body: str, title: str = TITLE) -> tuple[bool, str]:
    """Send one message through apprise: (delivered, why not). Blocks up to apprise's socket
    timeouts (``cto``/``rto`` URL arguments, 4 s each by default)."""
    import apprise  # noqa: PLC0415

    # apprise's own lines (one per message, one per failure) stay out of oxbot's log: the
    # reason of a failure is captured below and reported by the service, once, in its words.
    logging.getLogger("apprise").propagate = False
    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "apprise does not understand this URL"
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        ok = bool(sender.notify(body=body, title=title))
    lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    return ok, "" if ok else (lines[-1] if lines else "the service did not accept it")


def check_url(url: str) -> str:
    """ "" when apprise accepts ``url``; otherwise why, naming the schemes apprise supports."""
    import apprise  # noqa: PLC0415

    if apprise.Apprise().add(url):
        return ""
    details = apprise.Apprise().details()["schemas"]
    schemes = sorted(
        {
            p
            for s in details
            for p in (*(s.get("protocols") or ()), *(s.get("secure_protocols") or ()))
        }
    )
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in schemes:
        setup = next(
            (
                s.get("setup_url") or s.get("service_url")
                for s in details
                if scheme in (*(s.get("protocols") or ()), *(s.get("secure_protocols") or ()))
            ),
            "",
        )
        return f"apprise knows {scheme}:// but cannot read the rest of this URL; see {setup}"
    if scheme in ("http", "https"):  # a plain webhook: apprise posts to it as json(s)://
        secure = "s" if scheme == "https" else ""
        return (  # the URL itself is not repeated: it may hold a token
            f"{scheme}:// is not an apprise URL; for a webhook that takes a JSON POST write "
            f"the same address as json{secure}://HOST/PATH (form{secure}:// for a form POST)"
        )
    # the whole list (some 250 names) would bury the line; the services page has them all
    return (
        f"not an apprise URL (scheme {scheme or 'missing'!r}); apprise supports "
        f"{len(schemes)} schemes, e.g. tgram:// (Telegram), discord://, slack://, ntfy://, "
        "mailto://, json:// and form:// (any webhook); all of them: "
        "https://appriseit.com/services/"
    )


@dataclass
class Route:
    """One destination: its name, the events it takes, its rate limit, and its URL resolver."""

    name: str
    events: frozenset[str]
    per_minute: int
    resolve: Callable[[], str | None]  # runs on the route's thread (keyring calls block)
    send: Callable[[str, str], tuple[bool, str]] = field(default=deliver)  # (url, body)
    pending: deque[Alert] = field(default_factory=deque)
    dropped: int = 0
    # kind -> alerts dropped from a full queue since the last message (said in the next one)
    dropped_kinds: dict[str, int] = field(default_factory=dict)
    delivered: int = 0  # alerts (not messages) delivered
    messages: int = 0
    failed: int = 0  # alerts given up on
    last_error: str = ""


class AlertService:
    """An engine Service (start/close) sending the engine's alerts to ``routes``."""

    def __init__(
        self,
        bus: Any,
        routes: Iterable[Route],
        now_ms: Callable[[], int] = lambda: 0,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.bus = bus
        self.routes = list(routes)
        self.now_ms = now_ms
        self.flush_s = flush_s
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._unlisten: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------- engine loop side

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unlisten = self.bus.listen(self.offer)
        for route in self.routes:
            log.info(
                "alerts: %s gets %s, at most %d messages a minute",
                route.name,
                ", ".join(sorted(route.events)),
                route.per_minute,
            )
        for route in self.routes:
            t = threading.Thread(
                target=self._run, args=(route,), name=f"oxbot-alert-{route.name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def offer(self, ev: Any) -> None:
        """The bus listener: format, queue, wake the route; never blocks on I/O."""
        alert = alert_of(ev)
        if alert is None:
            return
        with self._cond:
            for route in self.routes:
                if alert.kind in route.events:
                    if len(route.pending) >= QUEUE_MAX:
                        _drop_one(route)
                    route.pending.append(alert)
            self._cond.notify_all()

    async def close(self) -> None:
        """Send what is queued within ``flush_s``, then leave the threads behind."""
        if self._unlisten is not None:
            self._unlisten()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + self.flush_s
        while any(t.is_alive() for t in self._threads) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for route in self.routes:
            if route.pending or route.dropped:
                log.warning(
                    "alerts: %s: %d not sent at stop, %d dropped (queue full)",
                    route.name,
                    len(route.pending),
                    route.dropped,
                )

    def _tell(self, text: str) -> None:
        """A warning Notice on the engine's bus, from a delivery thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        notice = Notice(self.now_ms(), "warning", f"{NOTICE_PREFIX} {text}")
        try:
            loop.call_soon_threadsafe(self.bus.publish, notice)
        except RuntimeError:  # the loop closed meanwhile
            pass

    # ---------------------------------------------------------------- delivery thread

    def _run(self, route: Route) -> None:
        try:
            url = route.resolve()
        except Exception as e:  # noqa: BLE001 - a keyring failure names its fix
            url, route.last_error = None, str(e).splitlines()[0]
        if not url:
            why = route.last_error or "no URL stored (run `oxbot alerts add NAME URL`)"
            log.warning("alerts: %s disabled: %s", route.name, why)
            self._tell(f"{route.name} disabled: {why}")
            return
        sent: deque[float] = deque()
        failures = 0
        retry_at = 0.0
        while True:
            with self._cond:
                while not route.pending and not self._stopping:
                    self._cond.wait()
                if not route.pending:
                    return
                now = time.monotonic()
                while sent and now - sent[0] >= WINDOW_S:
                    sent.popleft()
                wait = 0.0
                if not self._stopping:
                    if len(sent) >= route.per_minute:
                        wait = sent[0] + WINDOW_S - now
                    wait = max(wait, retry_at - now)
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                batch = list(route.pending)
                route.pending.clear()
                dropped, route.dropped_kinds = route.dropped_kinds, {}
            try:
                ok, why = route.send(url, summary(batch, dropped))
            except Exception as e:  # noqa: BLE001 - a plugin's bug must not end the route
                ok, why = False, f"{type(e).__name__}: {e}"
            now = time.monotonic()
            if ok:
                sent.append(now)
                route.delivered += len(batch)
                route.messages += 1
                failures, retry_at = 0, 0.0
                continue
            failures += 1
            route.last_error = why
            if self._stopping:
                route.failed += len(batch)
                return
            if failures == FAILURE_NOTICE_AFTER:
                self._tell(f"{route.name}: {failures} deliveries failed in a row: {why}")
            if failures > RETRIES:
                route.failed += len(batch)
                log.warning("alerts: %s: gave up on %d alert(s): %s", route.name, len(batch), why)
                failures = 0
                continue
            retry_at = now + min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (failures - 1))
            with self._cond:  # back at the front, the newest kept if the queue filled meanwhile
                room = QUEUE_MAX - len(route.pending)
                keep = batch[-room:] if room > 0 else []
                route.dropped += len(batch) - len(keep)
                route.pending.extendleft(reversed(keep))


def _drop_one(route: Route) -> None:
    """Make room in a full queue: the oldest fill (or SL/TP) goes, never a PANIC, an error, a
    budget pause or the engine stopping while a routine alert is left to drop."""
    pending = route.pending
    victim = next((a for a in pending if a.kind in ROUTINE), pending[0])
    pending.remove(victim)
    route.dropped += 1
    route.dropped_kinds[victim.kind] = route.dropped_kinds.get(victim.kind, 0) + 1


ROUTINE = ("fill", "sl_tp")  # the alerts a full queue drops first


def routes_from_settings(
    settings: dict[str, Any], resolve: Callable[[str], str | None]
) -> list[Route]:
    """Routes for the ``alerts`` settings (name -> AlertRoute); ``resolve(name)`` -> URL."""
    return [
        Route(name, frozenset(r.events), r.per_minute, lambda n=name: resolve(n))
        for name, r in settings.items()
    ]
