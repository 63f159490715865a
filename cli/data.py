"""`oxbot data download`: OHLCV history through ccxt into a CSV for backtests, with paging,
a plain-text progress bar on stderr and resume from the file's last row. ccxt is imported
only inside the handler."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

HEADER = "timestamp,open,high,low,close,volume"
PAGE = 1000


def register(subparsers: Any) -> None:
    """Add `data download` to the oxbot command line."""
    data = subparsers.add_parser("data", help="market data for backtests")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    d = sub.add_parser("download", help="download OHLCV candles into a CSV (resumable)")
    d.add_argument("--exchange", required=True, metavar="ID", help="ccxt exchange id, e.g. binance")
    d.add_argument("--symbol", required=True, metavar="SYM", help="e.g. BTC/USDT")
    d.add_argument("--timeframe", required=True, metavar="TF", help="e.g. 1m, 5m, 1h")
    d.add_argument("--since", required=True, metavar="DATE", help="UTC start, YYYY-MM-DD[THH:MM]")
    d.add_argument("--until", metavar="DATE", help="UTC end (exclusive; default: now)")
    d.add_argument("--out", required=True, metavar="FILE.csv", type=Path)
    d.add_argument("--api-url", help=argparse.SUPPRESS)  # testnets, proxies, the test exchange
    d.set_defaults(handler=run_download)


def parse_date(text: str, flag: str) -> int:
    """ms UTC of an ISO date; ``DataError`` naming the flag and the format otherwise."""
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(
            f"{flag} {text!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def check_out(path: Path) -> None:
    """UsageError for an --out that cannot be written, before any network wait."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if path.is_dir():
        raise UsageError(
            f"--out {path} is a directory; give a file name such as {path / 'BTC-USDT_1h.csv'}"
        )
    if not path.parent.exists():
        raise UsageError(f"--out {path}: the folder {path.parent} does not exist; create it first")
    if path.exists() and not path.is_file():
        raise UsageError(f"--out {path} is not a regular file; give a file name")


def check_resume(path: Path, timeframe: str, tf_ms: int) -> tuple[int, float] | None:
    """(last timestamp, last close) of a CSV to resume, None when there is nothing to resume.

    The file keeps only the header and the candles, so "is it the same market?" is checked
    from what the candles say: their spacing must be the timeframe asked for (and the caller
    compares the price level with the first new candle)."""
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    last = last_timestamp(path)
    if last is None:
        return None
    rows = [ln.split(",") for ln in path.read_text().splitlines()[1:] if ln.strip()]
    try:
        stamps = [int(r[0]) for r in rows[:50]]
        close = float(rows[-1][4])
    except (ValueError, IndexError):
        raise DataError(f"{path}: a row is malformed; delete the file and download again") from None
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b > a]
    if gaps and min(gaps) != tf_ms:
        raise DataError(
            f"{path} holds candles {min(gaps) // 1000} s apart, not {timeframe}; "
            "resume only the file of the same symbol and timeframe, or pick "
            "another --out"
        )
    return last, close


def last_timestamp(path: Path) -> int | None:
    """The timestamp of the last row of an existing CSV (for resume), None when empty."""
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    if not path.exists() or path.stat().st_size == 0:
        return None
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if not lines or lines[0].strip() != HEADER:
        raise DataError(
            f"{path} exists but is not an oxbot candle CSV (header {HEADER!r}); "
            "pick another --out or delete the file"
        )
    if len(lines) == 1:
        return None
    try:
        return int(lines[-1].split(",")[0])
    except ValueError:
        raise DataError(f"{path}: the last row is malformed; delete it and run again") from None


def _bar(done: int, total: int, rows: int, out: TextIO) -> None:
    frac = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    filled = int(frac * 30)
    out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {frac * 100:5.1f}% {rows} candles")
    out.flush()


async def download(
    client: Any,
    clients: Any,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int,
    out: Path,
    progress: TextIO = sys.stderr,
) -> int:
    """Append closed candles in ``[since_ms, until_ms)`` to ``out``; returns rows written."""
    from oxbot.engine.errors import DataError  # noqa: PLC0415
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    tf_ms = timeframe_seconds(timeframe) * 1000
    resume = check_resume(out, timeframe, tf_ms)
    last = resume[0] if resume else None
    start = since_ms if last is None else max(since_ms, last + tf_ms)
    await clients.market_info(client.id, symbol)  # BadSymbol (exit 2) before any paging
    written = 0
    new_file = not out.exists() or out.stat().st_size == 0
    with out.open("a", encoding="utf-8", newline="\n") as f:
        if new_file:
            f.write(HEADER + "\n")
        cursor = start
        while cursor < until_ms:
            rows = await clients.read(
                client,
                lambda c=cursor: client.fetch_ohlcv(symbol, timeframe, c, PAGE),
                f"fetch {timeframe} candles {symbol}",
            )
            rows = [r for r in rows if r[0] >= cursor and r[0] + tf_ms <= until_ms]
            if not rows:
                # Some exchanges page by time window (OKX: the candles in [since, since+limit)),
                # so an empty page may only mean "nothing yet" (before the market was listed):
                # go on to the next window rather than end a download that has barely begun.
                cursor += PAGE * tf_ms
                _bar(cursor - start, until_ms - start, written, progress)
                continue
            if resume and written == 0 and not 1 / 3 < float(rows[0][1]) / resume[1] < 3:
                raise DataError(
                    f"{out} ends at a price of {resume[1]:g} but {symbol} now opens "
                    f"at {float(rows[0][1]):g}: the file holds another market; "
                    "pick another --out"
                )
            for r in rows:
                f.write(",".join(str(v) for v in r[:6]) + "\n")
            f.flush()  # a crash mid-download keeps every page written so far (resume)
            written += len(rows)
            cursor = int(rows[-1][0]) + tf_ms
            _bar(cursor - start, until_ms - start, written, progress)
    _bar(1, 1, written, progress)
    progress.write("\n")
    return written


def run_download(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415
    import time  # noqa: PLC0415

    from oxbot.app.runtime import endpoint_configurer  # noqa: PLC0415
    from oxbot.engine.errors import DataError, UsageError  # noqa: PLC0415
    from oxbot.engine.exchange.clients import ExchangeClients, point_at  # noqa: PLC0415
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    try:
        tf_ms = timeframe_seconds(args.timeframe) * 1000
    except ValueError as e:
        raise UsageError(f"--timeframe: {e}") from None
    since = parse_date(args.since, "--since")
    until = parse_date(args.until, "--until") if args.until else int(time.time() * 1000)
    until = min(until, int(time.time() * 1000) // tf_ms * tf_ms)
    if since >= until:
        raise DataError(f"--since {args.since} is not before --until ({args.until or 'now'})")
    from oxbot.cli.backtest import check_symbol  # noqa: PLC0415
    from oxbot.engine.backtest.history import reach  # noqa: PLC0415

    symbol = check_symbol(args.symbol)
    out = args.out.expanduser()
    check_out(out)
    check_resume(out, args.timeframe, tf_ms)  # a wrong file is refused before any network wait

    async def main() -> int:
        configure = (
            (lambda c: point_at(c, args.api_url))
            if args.api_url
            else endpoint_configurer(args.exchange.strip().lower())
        )
        clients = ExchangeClients(configure=configure)
        try:
            client = clients.public(args.exchange.strip().lower())
            await reach(client, symbol)  # offline: one clear line within seconds
            return await download(client, clients, symbol, args.timeframe, since, until, out)
        finally:
            await clients.close_all()

    n = asyncio.run(main())
    print(f"{n} candles written to {args.out}", file=sys.stderr)
    return 0
