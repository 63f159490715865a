"""The cockpit's rules that need no Textual: redraw coalescing, trade-toast throttling, engine
hosting. Driven with a hand-turned clock and timers the test fires itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from oxbot.engine import messages as m
from oxbot.tui.hosting import EngineHost
from oxbot.tui.redraw import REDRAW_INTERVAL_S, RedrawCoalescer
from oxbot.tui.state import Toast
from oxbot.tui.toasts import TRADE_TOAST_INTERVAL_S, ToastThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Timers:
    """set_timer for the classes under test: remembers (delay, callback); the test fires them."""

    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[[], None]]] = []
        self.stopped = 0

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timers:
        self.due.append((delay, callback))
        return self

    def stop(self) -> None:
        self.stopped += 1

    def fire(self) -> None:
        _, callback = self.due.pop(0)
        callback()


def _coalescer() -> tuple[RedrawCoalescer, list[set[str]], Timers, Clock]:
    drawn: list[set[str]] = []
    timers, clock = Timers(), Clock()
    return RedrawCoalescer(drawn.append, timers, clock=clock), drawn, timers, clock


def test_many_events_within_the_interval_make_one_redraw_of_everything_they_changed() -> None:
    redraws, drawn, timers, clock = _coalescer()
    redraws.request({"header"})  # the first one, long after the last redraw: now
    assert drawn == [{"header"}] and not timers.due
    for i in range(500):
        clock.now += 0.0001
        redraws.request({"bots"} if i % 2 else {"fills"})
    assert drawn == [{"header"}]
    assert len(timers.due) == 1  # one redraw pending, not one per event
    delay, _ = timers.due[0]
    assert 0 < delay <= REDRAW_INTERVAL_S
    clock.now += delay
    timers.fire()
    assert drawn == [{"header"}, {"bots", "fills"}]


def test_a_status_change_draws_the_bots_at_once_and_the_rest_keeps_its_turn() -> None:
    """A status change (often a key's effect) draws the bots table and the header at once and
    nothing else: the frame that shows it stays small; the equity still dirty is drawn by the
    redraw already pending."""
    redraws, drawn, timers, clock = _coalescer()
    redraws.request({"header"})
    clock.now += 0.01
    redraws.request({"equity"})
    assert len(timers.due) == 1
    redraws.request({"bots-now", "bots", "positions"})
    assert drawn == [{"header"}, {"bots-now", "bots"}]
    assert len(timers.due) == 1 and timers.stopped == 0
    clock.now += REDRAW_INTERVAL_S
    timers.fire()
    assert drawn == [{"header"}, {"bots-now", "bots"}, {"equity", "positions"}]


def test_while_a_keys_frame_is_drawn_engine_events_wait_for_it() -> None:
    """Deferred (a key's frame is being drawn): events mark panels dirty, a due redraw does not
    draw; a status change still draws the bots at once; resuming draws what waited."""
    redraws, drawn, timers, clock = _coalescer()
    redraws.request({"header"})
    clock.now += 0.01
    redraws.request({"fills"})
    redraws.defer()
    redraws.request({"positions"})
    clock.now += REDRAW_INTERVAL_S
    timers.fire()  # due while deferred: nothing drawn, due again when the deferral ends
    assert drawn == [{"header"}] and len(timers.due) == 1
    redraws.request({"bots", "bots-now"})
    assert drawn == [{"header"}, {"bots", "bots-now"}]
    redraws.resume()
    assert drawn == [{"header"}, {"bots", "bots-now"}, {"fills", "positions"}]
    assert timers.stopped == 1


def test_a_deferral_never_resumed_ends_by_itself() -> None:
    """Should the key's frame never come round to resume, the redraw waits MAX_DEFER_S at
    most."""
    from oxbot.tui.redraw import MAX_DEFER_S

    redraws, drawn, timers, clock = _coalescer()
    redraws.defer()
    redraws.request({"fills"})
    assert drawn == [] and len(timers.due) == 1
    delay, _ = timers.due[0]
    assert delay <= MAX_DEFER_S
    clock.now += delay
    timers.fire()
    assert drawn == [{"fills"}]


def test_what_changes_while_closing_is_kept_not_drawn() -> None:
    redraws, drawn, timers, _ = _coalescer()
    redraws.hold({"bots"})
    assert drawn == [] and not timers.due and redraws.dirty == {"bots"}
    redraws.flush()
    assert drawn == [{"bots"}]
    redraws.flush()  # nothing dirty: nothing drawn
    assert drawn == [{"bots"}]


def _fill(i: int, title: str = "fill") -> Toast:
    return Toast(f"alpha BUY #{i}", "information", title)


def _throttle() -> tuple[ToastThrottle, list[Toast], Timers, Clock]:
    shown: list[Toast] = []
    timers, clock = Timers(), Clock()
    return ToastThrottle(shown.append, timers, clock=clock), shown, timers, clock


def test_trade_toasts_within_the_interval_are_shown_as_one_summary() -> None:
    toasts, shown, timers, clock = _throttle()
    toasts.add([_fill(0)], plain_fills=True)
    timers.fire()  # the first batch: shown as it is
    assert [t.message for t in shown] == ["alpha BUY #0"]
    for i in range(1, 8):
        clock.now += 0.2
        toasts.add(
            [_fill(i, "stop-loss" if i == 3 else "take-profit" if i > 5 else "fill")],
            plain_fills=True,
        )
    assert len(shown) == 1 and len(timers.due) == 1  # one flush pending for the lot
    delay, _ = timers.due[0]
    assert abs(delay - (TRADE_TOAST_INTERVAL_S - 0.2)) < 1e-9  # 2 s after the last shown
    timers.fire()
    assert shown[1] == Toast(
        "7 fills (1 stop-loss, 2 take-profit), last alpha BUY #7", "warning", "fills"
    )


def test_plain_fills_are_dropped_unless_wanted_and_other_toasts_show_at_once() -> None:
    toasts, shown, timers, _ = _throttle()
    failed = Toast("Start alpha failed", "error", "command")
    toasts.add([_fill(0), failed], plain_fills=False)
    assert shown == [failed] and not timers.due and toasts.held == []
    toasts.add([_fill(1, "take-profit")], plain_fills=False)  # SL/TP always
    assert len(timers.due) == 1
    toasts.clear()
    timers.fire()
    assert shown == [failed]  # cleared before its turn: nothing more shown


class Client:
    attached = False

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, listener: Callable[[m.Event], None]) -> None:
        self.calls.append("start")

    def submit(self, command: m.Command) -> None:
        self.calls.append("submit")

    def stop(self, timeout: float = 10.0) -> None:
        self.calls.append(f"stop {timeout}")


def test_the_host_stops_only_a_started_engine_and_only_once() -> None:
    client = Client()
    host = EngineHost(client)
    host.stop()
    assert client.calls == []  # never started: nothing to stop
    host.start(lambda _e: None)
    assert host.started
    host.stop(3.0)
    host.stop(3.0)
    assert client.calls == ["start", "stop 3.0"] and not host.started


@pytest.mark.parametrize("fails", [False, True])
def test_a_process_host_resumes_the_collector_held_by_the_start(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """cli/tui.py holds the collector until the engine runs; the host resumes it then, and when
    the engine cannot start (the cockpit closes with its error)."""
    import gc  # noqa: PLC0415

    import oxbot.app.runtime as runtime  # noqa: PLC0415

    settled: list[bool] = []
    monkeypatch.setattr(runtime, "settle_heap", lambda **_: settled.append(True))  # no freeze
    client = Client()
    if fails:

        def start(listener: Callable[[m.Event], None]) -> None:
            raise OSError("no engine")

        client.start = start  # type: ignore[method-assign]
    gc.disable()
    try:
        if fails:
            with pytest.raises(OSError):
                EngineHost(client, settle_heap=True).start(lambda _e: None)
        else:
            EngineHost(client, settle_heap=True).start(lambda _e: None)
        assert gc.isenabled() and settled == ([] if fails else [True])
    finally:
        gc.enable()


def test_the_host_marks_an_in_process_engine_busy_until_the_frame_is_drawn() -> None:
    class Foreground:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def busy(self) -> None:
            self.seen.append("busy")

        def idle(self) -> None:
            self.seen.append("idle")

    client = Client()
    client.foreground = Foreground()  # type: ignore[attr-defined]
    host = EngineHost(client)
    after: list[Callable[[], None]] = []
    host.busy(after.append)
    host.busy(after.append)  # one idle call pending, however many busy spells
    assert client.foreground.seen == ["busy", "busy"] and len(after) == 1  # type: ignore[attr-defined]
    after[0]()
    assert client.foreground.seen[-1] == "idle"  # type: ignore[attr-defined]
    EngineHost(Client()).busy(after.append)  # no foreground (socket client): nothing to do
    assert len(after) == 1


def test_the_app_is_what_screens_expect_of_the_cockpit(scripted_client) -> None:
    from oxbot.tui.app import OxbotApp
    from oxbot.tui.cockpit import Cockpit

    app: Cockpit = OxbotApp(scripted_client)  # mypy checks the fields' types too
    assert isinstance(app, Cockpit)
    assert not isinstance(object(), Cockpit)
