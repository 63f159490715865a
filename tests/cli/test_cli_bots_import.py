"""`oxbot bots ...` without an engine: LIVE bots need explicit consent, an import file must not
repeat a name, the export never overwrites the database, messages speak in flags."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest


def _names(home: Path) -> list[str]:
    db = home / "data" / "oxbot.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM bots WHERE deleted = 0"))


def _export_file(oxbot, tmp_path: Path, edit) -> Path:
    code, _out, err = oxbot("bots", "add", "seed", "--param", "fast=5", "--param", "slow=20")
    assert code == 0, err
    src = tmp_path / "bots.json"
    assert oxbot("bots", "export", "--out", str(src))[0] == 0
    assert oxbot("bots", "delete", "seed", "--purge")[0] == 0
    data = json.loads(src.read_text())
    edit(data)
    src.write_text(json.dumps(data))
    return src


def _make_live(data: list) -> None:
    data[0].update(name="real", mode="live", exchange="binance")


def test_import_of_a_live_bot_needs_yes_i_mean_live(oxbot, home, tmp_path) -> None:
    src = _export_file(oxbot, tmp_path, _make_live)
    code, out, err = oxbot("bots", "import", str(src))
    assert code == 2 and out == ""
    assert err.startswith("oxbot: ") and len(err.strip().splitlines()) == 1
    assert "LIVE" in err and "real" in err and "--yes-i-mean-live" in err
    assert _names(home) == []  # nothing written
    code, out, err = oxbot("bots", "import", str(src), "--yes-i-mean-live")
    assert code == 0, err
    assert _names(home) == ["real"]
    assert "LIVE" in err  # the warning stays visible


def test_starting_a_live_bot_warns_about_real_money(oxbot, home, tmp_path, monkeypatch) -> None:
    src = _export_file(oxbot, tmp_path, _make_live)
    assert oxbot("bots", "import", str(src), "--yes-i-mean-live")[0] == 0
    monkeypatch.setenv("OXBOT_BINANCE_API_KEY", "bnk-cli-test-key")
    monkeypatch.setenv("OXBOT_BINANCE_SECRET", "bns-cli-test-secret")
    code, out, err = oxbot("bots", "start", "real")
    assert code == 0, err
    assert "will start with the engine" in out
    assert "LIVE" in err and "real money" in err
    code, out, err = oxbot("bots", "add", "papery", "--start")
    assert code == 0 and "LIVE" not in err  # paper bots: no warning


def test_duplicate_names_inside_an_import_file_are_refused(oxbot, home, tmp_path) -> None:
    src = _export_file(oxbot, tmp_path, lambda d: d.append(dict(d[0])))
    code, out, err = oxbot("bots", "import", str(src))
    assert code == 2, err
    assert "seed" in err and "more than once" in err and "Traceback" not in err
    assert _names(home) == []


def test_export_never_overwrites_the_database(oxbot, home) -> None:
    assert oxbot("bots", "add", "keep")[0] == 0
    db = home / "data" / "oxbot.db"
    before = db.read_bytes()
    code, out, err = oxbot("bots", "export", "--out", str(db))
    assert code == 2 and "is the database itself" in err
    assert db.read_bytes() == before and _names(home) == ["keep"]


@pytest.mark.parametrize(
    "argv, flag, absent",
    [
        (["--fee", "0.5"], "--fee", "fee_rate"),
        (["--cadence", "-5"], "--cadence", "cadence_s"),
        (
            ["--max-position-pct", "90", "--max-exposure-pct", "50"],
            "--max-position-pct",
            "max_position_pct",
        ),
    ],
)
def test_messages_name_the_flags(oxbot, home, argv, flag, absent) -> None:
    code, out, err = oxbot("bots", "add", "x", *argv)
    assert code == 2 and out == ""
    assert flag in err and absent not in err
    assert _names(home) == []


def test_fee_message_gives_the_half_percent_example(oxbot) -> None:
    code, _out, err = oxbot("bots", "add", "x", "--fee", "0.5")
    assert code == 2 and "0.005" in err and "0.5 %" in err


def test_params_are_coerced_by_the_strategy_model(oxbot, home) -> None:
    # "123" stays a string for a text field (it used to become the int 123, then be refused)
    code, out, err = oxbot(
        "bots",
        "add",
        "thinker",
        "--strategy",
        "llm",
        "--param",
        "model=123",
        "--param",
        "temperature=0.5",
    )
    assert code == 0, err
    code, out, _ = oxbot("bots", "export")
    params = json.loads(out)[0]["params"]
    assert params == {"model": "123", "temperature": 0.5}
    code, _out, err = oxbot("bots", "add", "y", "--param", "fast=ten")
    assert code == 2 and "fast" in err


def test_add_help_shows_defaults_and_units(oxbot) -> None:
    code, out, _err = oxbot("bots", "add", "--help")
    out = " ".join(out.split())  # argparse wraps lines at the terminal width
    assert code == 0
    assert "(default: 15)" in out and "% of equity" in out
    assert "(default: 0.001)" in out and "SECONDS" in out
    assert "(default: False)" not in out and "(default: [])" not in out
