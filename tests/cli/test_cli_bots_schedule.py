"""`oxbot bots add` schedule flags: --cron (validated, seconds field), --run-on-start and the
retry policy are stored with the bot (read back through `bots export`, cli/bots.py)."""

from __future__ import annotations

import json


def test_schedule_flags_are_stored(oxbot) -> None:
    code, _out, err = oxbot(
        "bots",
        "add",
        "clockwork",
        "--cron",
        "*/30 * * * * *",
        "--run-on-start",
        "--retry-attempts",
        "3",
        "--retry-delay",
        "15",
    )
    assert code == 0, err
    code, out, err = oxbot("bots", "export")
    assert code == 0, err
    (bot,) = json.loads(out)
    assert bot["cron"] == "*/30 * * * * *"
    assert bot["run_on_start"] is True
    assert (bot["retry_attempts"], bot["retry_delay_s"]) == (3, 15)


def test_defaults_keep_todays_behaviour(oxbot) -> None:
    assert oxbot("bots", "add", "plain")[0] == 0
    (bot,) = json.loads(oxbot("bots", "export")[1])
    assert bot["cron"] == "" and bot["run_on_start"] is False
    assert (bot["retry_attempts"], bot["retry_delay_s"]) == (20, 0)


def test_a_bad_cron_names_the_flag(oxbot) -> None:
    code, out, err = oxbot("bots", "add", "x", "--cron", "*/30 * * *")
    assert code == 2 and out == ""
    assert "--cron" in err and "seconds first" in err and "Traceback" not in err
    code, _out, err = oxbot("bots", "add", "x", "--retry-attempts", "0")
    assert code == 2 and "--retry-attempts" in err
