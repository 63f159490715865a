"""What the arena refuses before it runs, through `oxbot arena` in process (the real parser and
error mapping: a UsageError is one line, exit 2): candle files of different timeframes, a
stored bot the bot backtest refuses (a cron bot), --max-cost over a model of unknown price, a
file that is not UTF-8, one symbol given twice, outputs that cannot be written or would
overwrite an input. Then: the exports are written before the table is printed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
H = 3_600_000
RULE = """
[[contestant]]
name = "sma"
strategy = "sma_cross"
params = { fast = 5, slow = 20 }
"""


def candles(path: Path, step_ms: int, n: int = 300, start: int = T0) -> Path:
    """A CSV of ``n`` candles ``step_ms`` apart (timestamp,open,high,low,close,volume: the
    format engine/market/csvdata.py ``load_csv`` reads), a gentle zig-zag."""
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(n):
        c = 100 + (i % 17) - (i % 5) * 0.5
        lines.append(f"{start + i * step_ms},{c},{c + 1},{c - 1},{c + 0.25},10")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_arena(home: Path, files: dict[str, str], body: str = RULE) -> Path:
    rows = "\n".join(f'"{sym}" = "{name}"' for sym, name in files.items())
    text = f'[arena]\ntitle = "t"\nmarket = "csv"\n[arena.csv]\n{rows}\n{body}'
    path = home / "a.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_files_of_different_timeframes_are_refused_naming_each(home: Path, cli: Any) -> None:
    """adv15b F2: btc 1h and eth 4h ran as one arena, labelled by whichever came first."""
    candles(home / "btc.csv", H)
    candles(home / "eth4h.csv", 4 * H)
    for files in (
        {"BTC/USDT": "btc.csv", "ETH/USDT": "eth4h.csv"},
        {"ETH/USDT": "eth4h.csv", "BTC/USDT": "btc.csv"},
    ):
        path = csv_arena(home, files)
        code, out, err = cli(str(path))
        assert code == 2 and out == "", (out, err)
        line = one_line(err)
        assert "the files have different timeframes" in line, line
        assert "btc.csv 1h" in line and "eth4h.csv 4h" in line, line
        assert "give candles of one timeframe" in line


def test_a_file_whose_spacing_changes_after_its_head_is_refused(home: Path, cli: Any) -> None:
    """The heads agree (1h) but eth's file is mostly 4h candles: the whole file's most common
    step (the backtest's) is checked when the candles are read."""
    candles(home / "btc.csv", H, n=2000)
    eth = candles(home / "eth.csv", H, n=100)
    tail = candles(home / "tail.csv", 4 * H, n=600, start=T0 + 100 * H)
    eth.write_text(
        eth.read_text() + "".join(tail.read_text().splitlines(keepends=True)[1:]),
        encoding="utf-8",
    )
    path = csv_arena(home, {"BTC/USDT": "btc.csv", "ETH/USDT": "eth.csv"})
    code, out, err = cli(str(path))
    assert code == 2 and out == "", (out, err)
    line = one_line(err)
    assert "the files have different timeframes" in line and "eth.csv 4h" in line, line


def test_an_irregular_file_and_a_newest_first_file_are_said(home: Path, cli: Any) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    t = T0
    for i in range(120):
        t += (H, 2 * H, 3 * H, 5 * H)[i % 4]
        lines.append(f"{t},1,2,0.5,1.5,1")
    (home / "odd.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _out, err = cli(str(csv_arena(home, {"BTC/USDT": "odd.csv"})))
    assert code == 2 and "odd.csv has irregular candle spacing" in one_line(err)

    fwd = candles(home / "fwd.csv", H).read_text().splitlines()
    (home / "rev.csv").write_text("\n".join([fwd[0], *reversed(fwd[1:])]) + "\n", encoding="utf-8")
    code, _out, err = cli(str(csv_arena(home, {"BTC/USDT": "rev.csv"})))
    assert code == 2 and "rev.csv has its candles newest first" in one_line(err)


def test_one_timeframe_still_runs(home: Path, cli: Any) -> None:
    candles(home / "btc.csv", H)
    candles(home / "eth.csv", H)
    code, out, err = cli(str(csv_arena(home, {"BTC/USDT": "btc.csv", "ETH/USDT": "eth.csv"})))
    assert code == 0, err
    assert "BTC/USDT, ETH/USDT 1h" in out


def test_a_symbol_given_twice_in_another_case_is_refused(home: Path, cli: Any) -> None:
    """adv15b F4: "btc/usdt" and "BTC/USDT" were one symbol; one file silently dropped."""
    candles(home / "btc.csv", H)
    candles(home / "eth.csv", H)
    path = csv_arena(home, {"btc/usdt": "btc.csv", "BTC/USDT": "eth.csv"})
    code, out, err = cli(str(path))
    assert code == 2 and out == ""
    assert 'arena.csv."BTC/USDT": given twice ("btc/usdt" and "BTC/USDT")' in one_line(err)


def test_an_arena_file_that_is_not_utf8_is_one_line(home: Path, cli: Any) -> None:
    """adv15b F3: a UTF-16 file (a Windows editor's) was an 'unexpected error' crash."""
    path = home / "binary.toml"
    path.write_bytes(b"\xff\xfe[arena]\n")
    code, out, err = cli(str(path))
    assert code == 2 and out == ""
    assert f"{path}: not valid TOML: not UTF-8 text" in one_line(err)


def test_a_cron_bot_is_refused_as_the_bot_backtest_refuses_it(home: Path, cli: Any) -> None:
    """adv15b F13: a cron bot ran at every candle close under its own name. The refusal is
    engine/backtest/botrun.py ``check_schedule``, the one `oxbot backtest --bot` uses."""
    from oxbot.engine.models import BotConfig, BotStatus
    from oxbot.storage.store import Store

    async def save() -> None:
        store = await Store.open(home / "bots.db")
        await store.save_bot(
            BotConfig(
                name="cronbot",
                symbols=("BTC/USDT",),
                timeframe="1h",
                strategy="sma_cross",
                params={"fast": 5, "slow": 20},
                capital=Decimal(1000),
                cron="0 0 * * *",
            ),
            BotStatus.STOPPED,
        )
        await store.close()

    asyncio.run(save())
    candles(home / "btc.csv", H)
    path = csv_arena(home, {"BTC/USDT": "btc.csv"}, RULE + '[[contestant]]\nbot = "cronbot"\n')
    code, out, err = cli(str(path))
    assert code == 2 and out == "", (out, err)
    line = one_line(err)
    assert "contestant[2].bot: bot cronbot decides on a cron schedule (0 0 * * *)" in line
    assert "clear the cron" in line


def test_max_cost_refuses_a_paid_model_of_unknown_price(
    home: Path, cli: Any, openai_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """adv15b F14: an unpriced paid model added $0 to the estimate, so --max-cost 0 let it be
    called. Now refused with the fix, and no call is made; with its price it runs."""
    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-test")
    candles(home / "btc.csv", H, n=60)
    llm = f"""
[[contestant]]
name = "mystery"
strategy = "llm"
provider = "openai"
model = "vendor/mystery-71b"
base_url = "{openai_server.url}"
"""
    path = csv_arena(home, {"BTC/USDT": "btc.csv"}, RULE + llm)
    for cap in ("0", "1000"):
        code, out, err = cli(str(path), "--max-cost", cap)
        assert code == 2 and out == "", (out, err)
        assert (
            f"--max-cost {cap}: the price of vendor/mystery-71b is unknown, so the cost cannot "
            "be held to it: give its price (prices = { MODEL = [IN, OUT] }" in err
        ), err
        assert openai_server.requests == []
    priced = llm + 'prices = { "vendor/mystery-71b" = [1, 2] }\n'
    path = csv_arena(home, {"BTC/USDT": "btc.csv"}, RULE + priced)
    code, out, err = cli(str(path), "--max-cost", "1000")
    assert code == 0, err
    assert len(openai_server.requests) > 0


def test_a_report_whose_svg_cannot_be_written_is_refused_first(home: Path, cli: Any) -> None:
    """adv15b F6: --out r.md checked r.md up front but not r.svg beside it."""
    candles(home / "btc.csv", H)
    path = csv_arena(home, {"BTC/USDT": "btc.csv"})
    (home / "out").mkdir()
    (home / "out" / "r.svg").mkdir()
    code, out, err = cli(str(path), "--out", str(home / "out" / "r.md"))
    assert code == 2 and out == "", (out, err)
    assert "r.svg is a directory" in one_line(err)


@pytest.mark.parametrize("flag", ["--out", "--chart"])
def test_outputs_never_overwrite_an_input(home: Path, cli: Any, flag: str) -> None:
    """adv15b F7: --out victim.csv replaced the arena's own candles with the leaderboard."""
    victim = candles(home / "victim.csv", H)
    before = victim.read_text()
    path = csv_arena(home, {"BTC/USDT": "victim.csv"})
    target = victim if flag == "--out" else home / "a.svg"
    if flag == "--chart":  # the arena file itself, under an .svg name: a symlink
        target.symlink_to(path)
    code, out, err = cli(str(path), flag, str(target))
    assert code == 2 and out == "", (out, err)
    assert "is an input of the arena" in one_line(err)
    assert victim.read_text() == before
    # a report's SVG beside it counts too
    candles(home / "r.csv", H)
    shadow = home / "r.svg"
    path2 = csv_arena(home, {"BTC/USDT": "r.csv"})
    shadow.symlink_to(path2)
    code, _out, err = cli(str(path2), "--out", str(home / "r.md"))
    assert code == 2 and "is an input of the arena (a.toml)" in one_line(err)
    shadow.unlink()


def test_out_is_written_even_when_stdout_is_closed_early(home: Path) -> None:
    """adv15b F1: `oxbot arena ... --out FILE | head -1` wrote no FILE (the export came after
    the table, and the closed pipe stopped the command first). A real pipe closed by the
    reader, through the installed entry point."""
    candles(home / "btc.csv", H, n=2000)
    path = csv_arena(home, {"BTC/USDT": "btc.csv"})
    board = home / "board.json"
    cmd = [sys.executable, "-m", "oxbot.cli.main", "arena", str(path), "--out", str(board)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone (head after its lines, a pager quit) before any
    proc.wait(timeout=120)  # output: every print of the command meets a closed pipe
    assert board.is_file(), proc.stderr.read() if proc.stderr else ""
    assert '"rows"' in board.read_text(encoding="utf-8")


def test_rows_that_are_na_in_the_sorted_column_are_unranked(home: Path, cli: Any) -> None:
    """adv15b F15: --sort return_per_dollar over rule contestants (n/a: nothing spent) ranked
    them 1, 2, 3 in file order in the table and every export. Now: no rank ("—" in the table,
    empty in CSV)."""
    import csv as csvlib

    candles(home / "btc.csv", H)
    path = csv_arena(home, {"BTC/USDT": "btc.csv"}, RULE + RULE.replace('"sma"', '"sma2"'))
    out_csv = home / "board.csv"
    code, out, err = cli(str(path), "--sort", "return_per_dollar", "--out", str(out_csv))
    assert code == 0, err
    rows = list(csvlib.DictReader(out_csv.read_text(encoding="utf-8").splitlines()))
    assert [r["rank"] for r in rows] == ["", "", ""], rows
    table = out.split("\n\n")[0].splitlines()[4:7]
    assert all(line.startswith(" —") for line in table), table
    code, out, err = cli(str(path), "--sort", "return_pct", "--out", str(out_csv))
    rows = list(csvlib.DictReader(out_csv.read_text(encoding="utf-8").splitlines()))
    assert [r["rank"] for r in rows] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("table", "line", "said"),
    [
        (
            "arena",
            'title = "Nice\\u001b]0;PWNED\\u0007\\u001b[2J\\nfake line"',
            "arena.title: no control characters or line breaks",
        ),
        ("arena", 'title = "right\\u202eto left"', "arena.title: no control characters"),
        (
            "contestant",
            'strategy = "llm"\nprovider = "ollama"\nmodel = "m\\u001b]0;PWN\\u0007"',
            "contestant[1] (x).model: no control characters or line breaks",
        ),
    ],
)
def test_text_the_arena_prints_has_no_control_characters(
    home: Path, cli: Any, table: str, line: str, said: str
) -> None:
    """adv15b F16: an arena file's title (and an LLM contestant's model) reached the terminal,
    the Markdown report and the SVG raw: an OSC retitled the window, ESC[2J cleared it."""
    candles(home / "btc.csv", H)
    body = '\n[[contestant]]\nname = "x"\n' + line if table == "contestant" else RULE
    path = csv_arena(home, {"BTC/USDT": "btc.csv"}, body)
    if table == "arena":
        path.write_text(path.read_text().replace('title = "t"', line), encoding="utf-8")
    code, out, err = cli(str(path))
    assert code == 2 and out == "", (out, err)
    assert said in one_line(err)
    assert "\x1b" not in err


def test_a_max_hold_typed_as_a_duration_is_taken(home: Path, cli: Any) -> None:
    """adv15b F5: [arena.risk] max_hold_s = "4h" was "unable to parse string as an integer";
    `bots add --max-hold 4h` (engine/risk.py parse_hold) takes it."""
    from oxbot.app.arena import load_arena

    candles(home / "btc.csv", H)
    path = csv_arena(home, {"BTC/USDT": "btc.csv"})
    path.write_text(
        path.read_text().replace("[arena.csv]", '[arena.risk]\nmax_hold_s = "4h"\n[arena.csv]'),
        encoding="utf-8",
    )
    assert load_arena(path).risk.max_hold_s == 4 * 3600
    path.write_text(path.read_text().replace('"4h"', '"soon"'), encoding="utf-8")
    code, _out, err = cli(str(path))
    assert code == 2 and "arena.risk.max_hold_s: " in one_line(err)


def test_periods_that_do_not_overlap_name_each_files_range(home: Path, cli: Any) -> None:
    """adv15b F5: "no candles ... where every symbol has one" without saying what each file
    covers."""
    candles(home / "btc.csv", H)
    candles(home / "eth.csv", H, start=T0 + 1000 * H)
    path = csv_arena(home, {"BTC/USDT": "btc.csv", "ETH/USDT": "eth.csv"})
    code, out, err = cli(str(path))
    assert code == 2 and out == ""
    line = one_line(err)
    assert "BTC/USDT 2024-01-01 00:00 to 2024-01-13 11:00 UTC" in line, line
    assert "ETH/USDT 2024-02-11 16:00 to" in line, line
