"""The headless log: a failing cycle is one line, its multi-line help shows once per run of
failures, and the same failure re-published as an error or a notice is not logged twice."""

from __future__ import annotations

from oxbot.engine.messages import CycleFailed, EngineError, Notice

HELP = "SecretsError: no usable keyring backend was found.\nFixes:\n  1. unlock it"


def test_cycle_failure_help_once_per_run_and_no_class_name() -> None:
    from oxbot.app.headless import EventLines

    lines = EventLines()
    first = lines.describe(CycleFailed(0, "bot1", HELP, 1))
    second = lines.describe(CycleFailed(0, "bot1", HELP, 2))
    assert first is not None and second is not None
    assert first[1].startswith("bot1: cycle failed (1 in a row): no usable keyring backend")
    assert "Fixes:" in first[1] and "SecretsError" not in first[1]
    assert second[1] == "bot1: cycle failed (2 in a row): no usable keyring backend was found."
    again = lines.describe(CycleFailed(0, "bot1", HELP, 1))  # a new run of failures
    assert again is not None and "Fixes:" in again[1]


def test_the_same_failure_is_not_logged_twice() -> None:
    from oxbot.app.headless import EventLines

    lines = EventLines()
    lines.describe(CycleFailed(0, "bot1", HELP, 5))
    assert lines.describe(EngineError(0, f"bot1: {HELP}")) is None
    stopped = lines.describe(
        Notice(0, "error", f"bot1: 5 cycles failed in a row, bot stopped: {HELP}", "bot1")
    )
    assert stopped is not None
    assert stopped[1] == "bot1: 5 cycles failed in a row, bot stopped: see the cycle failure above"
    other = lines.describe(Notice(0, "warning", "bot2 paused: budget spent", "bot2"))
    assert other is not None and other[1] == "bot2 paused: budget spent"
