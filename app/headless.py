"""`oxbot run --headless`: the engine alone, for tmux/SSH servers. Textual is never imported.

Plain log lines (or JSON), a status summary every N minutes, a control socket for `oxbot attach`,
`status` and `stop`; SIGTERM/SIGINT stop gracefully (exit 0), SIGHUP is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from decimal import Decimal
from typing import Any

from oxbot.app.runtime import RuntimeOptions, build_engine, settle_heap
from oxbot.engine.messages import (
    BotStateChanged,
    CommandDone,
    CycleFailed,
    DecisionMade,
    EngineError,
    EngineStateChanged,
    Notice,
    OrderFilled,
)

log = logging.getLogger("oxbot")

# Commands a display sends on every attach or while a dialog is open: their success is routine,
# and their class names mean nothing to a person reading the log.
QUIET_COMMANDS = frozenset(
    {
        "RequestSnapshot",
        "RequestEquityHistory",
        "RequestRecentFills",
        "RequestReconcile",
        "HoldDecisions",
        "Shutdown",
        # the engine logs what the user chose itself
        "ResolveReconcile",
    }
)
COMMAND_WORDS = {
    "AddBot": "add bot",
    "UpdateBot": "update bot",
    "StartBot": "start",
    "StopBot": "stop",
    "PauseBot": "pause",
    "ResumeBot": "resume",
    "FlattenBot": "flatten",
    "DeleteBot": "delete",
    "PanicAll": "PANIC",
    "ResolveReconcile": "reconcile",
    "RequestEquityHistory": "equity history",
    "RequestRecentFills": "recent fills",
    "RequestReconcile": "reconcile list",
    "HoldDecisions": "hold decisions",
    "RequestSnapshot": "snapshot",
}


async def serve(opts: RuntimeOptions, status_every_s: float, socket_path: Any = None) -> int:
    engine = await build_engine(opts, control_socket=socket_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.request_stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP ignored; still running"))
    sub = engine.bus.subscribe(maxsize=20_000)
    tasks = [
        asyncio.create_task(_log_events(sub), name="log-events"),
        asyncio.create_task(_status_every(engine, status_every_s), name="status"),
    ]
    run = asyncio.create_task(engine.run(), name="engine")
    try:
        ready = asyncio.create_task(engine.ready.wait())
        await asyncio.wait({run, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if engine.ready.is_set():
            settle_heap()
        if engine.ready.is_set() and not engine.runners:
            log.info("no bots yet: add one with `oxbot bots add NAME` or start with --demo")
        await run
    finally:
        if not run.done():
            engine.request_stop()
            await asyncio.gather(run, return_exceptions=True)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sub.close()
        log.info("final status: %s", _summary(engine.status_summary()))
        await engine.store.close()
    return 0


async def _status_every(engine: Any, every_s: float) -> None:
    await engine.ready.wait()
    log.info("engine running: %s", _summary(engine.status_summary()))
    while True:
        await asyncio.sleep(every_s)
        log.info("status: %s", _summary(engine.status_summary()))


def _summary(s: dict[str, Any]) -> str:
    return (
        f"uptime {s['uptime_s']:.0f}s, bots running {s['bots_running']}/{s['bots_total']}, "
        f"cycles {s['cycles']}, round trips {s['trades']}, equity {s['equity']}, "
        f"errors {s['errors']}, failed LLM decisions {s.get('failed_decisions', 0)}"
    )


async def _log_events(sub: Any) -> None:
    lines = EventLines()
    while True:
        ev = await sub.get()
        try:
            line = lines.describe(ev)
        except Exception:  # noqa: BLE001 - logging must never stop
            line = None
        if line:
            level, text = line
            log.log(level, text)


class EventLines:
    """``describe`` with memory: a failing cycle is logged once per failure (the engine may
    publish it again as an error or a notice), and its multi-line help only the first time in
    a row; later failures in the same run of failures show the first line only."""

    def __init__(self) -> None:
        self._helped: set[str] = set()  # bots whose current failure run showed the help
        self._last_failure: dict[str, str] = {}  # bot -> the text of its last failure
        self._no_decision: dict[str, tuple[str, int]] = {}  # bot -> (reason, times in a row)

    def describe(self, ev: Any) -> tuple[int, str] | None:
        if isinstance(ev, DecisionMade) and ev.source == "fallback":
            # Every failed LLM decision is logged; the same reason again in a few words.
            why = ev.reasoning.removeprefix("fallback HOLD: ")
            last, n = self._no_decision.get(ev.bot, ("", 0))
            n = n + 1 if why == last else 1
            self._no_decision[ev.bot] = (why, n)
            if n > 1:
                return logging.WARNING, (
                    f"{ev.bot}: no usable LLM decision again ({n} in a row, same reason), holding"
                )
        elif isinstance(ev, DecisionMade):
            self._no_decision.pop(ev.bot, None)
        if isinstance(ev, CycleFailed):
            first, _, rest = strip_class_name(ev.error).partition("\n")
            self._last_failure[ev.bot] = ev.error
            if ev.consecutive <= 1:
                self._helped.discard(ev.bot)
            text = f"{ev.bot}: cycle failed ({ev.consecutive} in a row): {first}"
            if rest.strip() and ev.bot not in self._helped:
                self._helped.add(ev.bot)
                text += "\n" + rest.rstrip()
            return logging.WARNING, text
        line = describe(ev)
        if line is not None and isinstance(ev, EngineError | Notice):
            level, msg = line
            # The same failure re-published as an error or a notice: logged just above.
            for error in self._last_failure.values():
                if error and error in msg:
                    if isinstance(ev, EngineError):
                        return None
                    return level, msg.replace(error, "see the cycle failure above")
        if isinstance(ev, DecisionMade | OrderFilled):
            bot = getattr(ev, "bot", "")
            self._last_failure.pop(bot, None)  # the bot works again: next failure is new
        return line


_CLASS_PREFIX = re.compile(r"^[A-Z][A-Za-z0-9_]*: ")


def strip_class_name(text: str) -> str:
    """``NetworkError: binance timed out`` → ``binance timed out``: users need what happened
    and the fix, not our exception classes."""
    return _CLASS_PREFIX.sub("", text, count=1)


def _d(x: Decimal) -> str:
    return f"{x.normalize():f}"


def describe(ev: Any) -> tuple[int, str] | None:
    """One log line for the events a person running headless cares about."""
    info, warn = logging.INFO, logging.WARNING
    match ev:
        case OrderFilled():
            extra = f", realised {ev.realised:+.2f}" if ev.side == "sell" else ""
            return info, (
                f"{ev.bot}: {ev.side} {_d(ev.qty)} {ev.symbol} @ {_d(ev.price)} "
                f"({ev.reason}, fee {ev.fee:.4f}{extra})"
            )
        case DecisionMade() if ev.source == "fallback":
            why = ev.reasoning.removeprefix("fallback HOLD: ")
            return warn, f"{ev.bot}: no usable LLM decision, holding: {why}"
        case DecisionMade() if ev.verdict:
            acts = " ".join(f"{s}:{a}" for s, a in ev.actions if a != "hold")
            reasons = "; ".join(ev.verdict_reasons)
            return info, f"{ev.bot}: decided {acts} -> {ev.verdict}: {reasons}"
        case CycleFailed():
            return warn, (
                f"{ev.bot}: cycle failed ({ev.consecutive} in a row): {strip_class_name(ev.error)}"
            )
        case EngineError():
            return logging.ERROR, ev.message
        case Notice():
            return (warn if ev.level != "info" else info), ev.message
        case EngineStateChanged():
            return info, f"engine {ev.state}" + (f": {ev.message}" if ev.message else "")
        case CommandDone() if ev.ok and (ev.command in QUIET_COMMANDS or not ev.message):
            return None  # a display asking for data, or a success with nothing to say
        case CommandDone():
            what = COMMAND_WORDS.get(ev.command, ev.command)
            if ev.ok:
                return info, ev.message
            return warn, f"{what} refused: {ev.message or 'no reason given'}"
        case BotStateChanged():
            return None
    return None
