"""`oxbot data download` against the fake exchange: paging, resume, clear usage errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from oxbot.cli import data as cli_data
from oxbot.cli.errors import run_handler
from oxbot.cli.main import _Parser


def parse(argv: list[str]) -> Any:
    p = _Parser(prog="oxbot")
    cli_data.register(p.add_subparsers(dest="command", parser_class=_Parser))
    return p.parse_args(argv)


async def test_download_pages_and_resumes(fake: Any, clients: Any, tmp_path: Path) -> None:
    client = clients.public("binance")
    out = tmp_path / "btc.csv"
    first = fake.klines[0][0]
    cli_data.PAGE = 120  # force several pages
    bar = io.StringIO()
    n = await cli_data.download(
        client, clients, "BTC/USDT", "1m", first, first + 200 * 60_000, out, bar
    )
    assert n == 200 and "100.0%" in bar.getvalue()
    more = await cli_data.download(
        client, clients, "BTC/USDT", "1m", first, first + 250 * 60_000, out, io.StringIO()
    )
    assert more == 50
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    ts = [int(ln.split(",")[0]) for ln in lines[1:]]
    assert ts == [first + i * 60_000 for i in range(250)]  # no gap, no duplicate
    assert lines[1].split(",")[1:] == ["100.0", "100.5", "99.5", "100.0", "10.0"]


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["--since", "2024-02-01", "--until", "2024-01-01"], "is not before"),
        (["--since", "2024-01-01", "--timeframe", "7m"], "unknown timeframe"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], msg: str, tmp_path: Path, capsys: Any
) -> None:
    base = {
        "--exchange": "binance",
        "--symbol": "BTC/USDT",
        "--timeframe": "1m",
        "--out": str(tmp_path / "x.csv"),
    }
    for i in range(0, len(argv), 2):
        base[argv[i]] = argv[i + 1]
    args = parse(["data", "download", *[x for kv in base.items() for x in kv]])
    assert run_handler(args.handler, args) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


async def test_bad_symbol_is_a_usage_error(fake: Any, clients: Any, tmp_path: Path) -> None:
    from oxbot.engine.errors import UsageError

    with pytest.raises(UsageError, match="DOGE/EUR is not a market on binance"):
        await cli_data.download(
            clients.public("binance"),
            clients,
            "DOGE/EUR",
            "1m",
            fake.klines[0][0],
            fake.klines[-1][0],
            tmp_path / "x.csv",
            io.StringIO(),
        )
    assert not (tmp_path / "x.csv").exists()
