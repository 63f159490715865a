"""The arena file (`oxbot arena FILE.toml`): one market, one capital, fees and risk limits
shared by every contestant, and the contestants: rule strategies, LLM bots (the keys of an
LLM bot's config, engine/llm/strategy.py ``LLMParams``) or stored bots.

Parsed with tomllib into strict pydantic models: an unknown key is refused with its name and
the keys there are. Every error is one line, ``FILE: KEY: what is wrong (the fix)``, raised as
a UsageError before anything runs. Paths of candle files are relative to the arena file.

    [arena]
    title = "Rules against models"
    capital = 10000
    market = "sim"            # or "csv", or "live"
    fee_rate = 0.001
    [arena.sim]               # market = "sim": seeded synthetic candles
    seed = 7
    symbols = ["BTC/USDT"]
    timeframe = "1h"
    bars = 2000
    [arena.csv]               # market = "csv": one file per symbol
    "BTC/USDT" = "btc_1h.csv"
    [arena.live]              # market = "live": PAPER bots on an exchange's live candles
    exchange = "binance"
    symbols = ["BTC/USDT"]
    timeframe = "1m"
    duration = "6h"           # "90s", "30m", "6h", "2d"
    db = "arena.db"           # optional; default: a new file in the data folder
    [arena.risk]              # engine/models.py RiskLimits, for every contestant
    max_position_pct = 20

    [[contestant]]
    name = "sma-10-30"
    strategy = "sma_cross"
    params = { fast = 10, slow = 30 }
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oxbot.engine.errors import UsageError

BASELINE_NAME = "buy-hold"
DEFAULT_SIM_START = "2024-01-01"  # a sim arena's first candle when no since is given
MAX_CONTESTANTS = 20
MAX_SIM_BARS = 200_000
MAX_LIVE_S = 90 * 86_400  # the longest live arena
LIVE_PREFIX = "arena-"  # a live contestant's bot is named arena-<contestant>


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimMarket(_Strict):
    seed: int = 7
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1)
    timeframe: str = "1h"
    bars: int = Field(2000, ge=10, le=MAX_SIM_BARS)


class LiveMarket(_Strict):
    exchange: str = Field(min_length=1, max_length=40)
    symbols: list[str] = Field(min_length=1)
    timeframe: str = "1m"
    duration: str
    db: str | None = None
    mode: str = "paper"  # only "paper": an arena never trades real money


class ArenaTable(_Strict):
    title: str = Field("arena", max_length=120)
    capital: Decimal = Field(Decimal(10000), gt=0, le=Decimal("1e12"))
    market: Literal["csv", "sim", "live"]
    sim: SimMarket | None = None
    live: LiveMarket | None = None
    csv: dict[str, str] | None = None
    since: str | datetime | date | None = None
    until: str | datetime | date | None = None
    fee_rate: Decimal = Field(Decimal("0.001"), ge=0, lt=Decimal("0.1"))
    slippage_bps: Decimal = Field(Decimal(0), ge=0, le=500)
    risk: dict[str, Any] = Field(default_factory=dict)


class ContestantTable(BaseModel):
    """One [[contestant]]: ``strategy`` (a rule or "llm") or ``bot``. Other keys are checked
    against the strategy's (an LLM contestant's provider, model, ...) after this model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | None = None
    strategy: str | None = None
    bot: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    cadence_s: int = Field(0, ge=0, le=86400)


@dataclass(frozen=True)
class Contestant:
    name: str
    kind: str  # "rule" | "llm"
    label: str
    config: Any  # engine.models.BotConfig: the arena's market, capital, fees and risk


@dataclass(frozen=True)
class ArenaSpec:
    """A checked arena file."""

    path: Path
    title: str
    market: str  # "csv" | "sim" | "live"
    symbols: tuple[str, ...]
    timeframe: str
    capital: Decimal
    fee_rate: Decimal
    slippage_bps: Decimal
    risk: Any  # engine.models.RiskLimits
    contestants: list[Contestant]
    csv: dict[str, str] = field(default_factory=dict)  # symbol -> file (absolute)
    sim: SimMarket | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    live: LiveMarket | None = None
    duration_s: int = 0  # market = "live": how long it runs
    db: Path | None = None  # market = "live": the database given in the file, if any

    @property
    def market_label(self) -> str:
        if self.live is not None:
            return f"live {self.live.exchange} paper {self.live.duration}"
        if self.sim is not None:
            return f"sim seed={self.sim.seed} {self.sim.bars:,} bars"
        return "csv " + ", ".join(Path(p).name for p in self.csv.values())


# ---------------------------------------------------------------------------- errors


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _pydantic_line(e: ValidationError, prefix: str, allowed: dict[str, list[str]]) -> str:
    """The first error as ``prefix.KEY: message``; an unknown key lists the known ones."""
    err = e.errors()[0]
    key = _loc(tuple(err["loc"]))
    where = f"{prefix}.{key}" if prefix and key else prefix or key
    if err["type"] == "extra_forbidden":
        table = _loc(tuple(err["loc"][:-1])) or prefix
        known = allowed.get(table.split(".")[-1] if table else "", [])
        return f"{where}: unknown key; the keys here are: {', '.join(known)}"
    if err["type"] == "missing":
        return f"{where}: missing; add it"
    return f"{where}: {err['msg'].removeprefix('Value error, ')}"


def _fail(path: Path, line: str) -> UsageError:
    return UsageError(f"{path}: {line}")


# ---------------------------------------------------------------------------- parsing


def _plain(v: Any) -> Any:
    """TOML floats are read as Decimal (money stays exact); a strategy's params get floats."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and "." not in str(v) else float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _date_ms(v: str | date | None, key: str, path: Path) -> int | None:
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415

    if v is None:
        return None
    if isinstance(v, datetime):
        dt = v if v.tzinfo else v.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    if isinstance(v, date):
        return int(datetime(v.year, v.month, v.day, tzinfo=UTC).timestamp() * 1000)
    try:
        return parse_date(str(v), f"arena.{key}")
    except UsageError as e:
        raise _fail(path, str(e)) from None


def load_arena(path: str | Path, db: Path | None = None) -> ArenaSpec:
    """The arena file at ``path``, checked; UsageError (one line naming FILE: KEY) if bad.
    ``db``: where stored bots are looked up (``bot = "NAME"`` contestants)."""
    p = Path(path).expanduser()
    try:
        with p.open("rb") as f:
            raw = tomllib.load(f, parse_float=Decimal)
    except FileNotFoundError:
        raise UsageError(f"{p}: no such file; give the path of an arena .toml file") from None
    except OSError as e:
        raise UsageError(f"{p}: cannot be read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{p}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # e.g. a UTF-16 file from a Windows editor
        raise UsageError(
            f"{p}: not valid TOML: not UTF-8 text (byte {e.start}); save it as UTF-8"
        ) from None
    unknown = sorted(set(raw) - {"arena", "contestant"})
    if unknown:
        raise _fail(p, f"{unknown[0]}: unknown table; the file has [arena] and [[contestant]]")
    if "arena" not in raw:
        raise _fail(p, "arena: missing; add an [arena] table (title, capital, market, ...)")
    allowed = {
        "arena": sorted(ArenaTable.model_fields),
        "sim": sorted(SimMarket.model_fields),
        "live": sorted(LiveMarket.model_fields),
    }
    try:
        arena = ArenaTable.model_validate(raw["arena"])
    except ValidationError as e:
        raise _fail(p, _pydantic_line(e, "arena", allowed)) from None
    _printable(arena.title, "arena.title", p)
    risk = _risk(arena, p)
    live = _live(arena, p) if arena.market == "live" else None
    if live is not None:
        symbols, timeframe, csv, sim = live[0], live[1].timeframe, {}, None
    else:
        symbols, timeframe, csv, sim = _market(arena, p)
    since = _date_ms(arena.since, "since", p)
    until = _date_ms(arena.until, "until", p)
    if since is not None and until is not None and until <= since:
        raise _fail(p, "arena.until: must be after arena.since")
    items = raw.get("contestant")
    if not isinstance(items, list) or not items:
        raise _fail(p, "contestant: none; add at least one [[contestant]] table")
    if len(items) > MAX_CONTESTANTS:
        raise _fail(p, f"contestant: {len(items)} contestants; at most {MAX_CONTESTANTS}")
    base = {
        "symbols": tuple(symbols),
        "timeframe": timeframe,
        "capital": arena.capital,
        "fee_rate": arena.fee_rate,
        "slippage_bps": arena.slippage_bps,
        "risk": risk,
    }
    if live is not None:
        base["exchange"] = live[1].exchange
    contestants = [_contestant(item, i, base, p, db) for i, item in enumerate(items)]
    seen: set[str] = {BASELINE_NAME}
    for i, c in enumerate(contestants):
        if c.name in seen:
            why = "is the baseline's" if c.name == BASELINE_NAME else "is taken"
            raise _fail(p, f"contestant[{i + 1}].name: {c.name!r} {why}; give another name")
        seen.add(c.name)
    if live is not None:
        contestants = [_as_bot(c, i, p) for i, c in enumerate(contestants)]
    return ArenaSpec(
        path=p,
        title=arena.title,
        market=arena.market,
        symbols=tuple(symbols),
        timeframe=timeframe,
        capital=arena.capital,
        fee_rate=arena.fee_rate,
        slippage_bps=arena.slippage_bps,
        risk=risk,
        contestants=contestants,
        csv=csv,
        sim=sim,
        since_ms=since if since is not None or sim is None else None,
        until_ms=until,
        live=None if live is None else live[1],
        duration_s=0 if live is None else live[2],
        db=None if live is None else live[3],
    )


def _printable(text: str, key: str, path: Path) -> None:
    """Refuse control characters and line breaks in a text the arena prints (the terminal,
    the Markdown report, the SVG): a shared file must not move the cursor or retitle the
    window."""
    import unicodedata  # noqa: PLC0415

    bidi = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in bidi for ch in text):
        raise _fail(path, f"{key}: no control characters or line breaks; give plain text")


def _risk(arena: ArenaTable, path: Path) -> Any:
    from oxbot.engine.models import RiskLimits  # noqa: PLC0415
    from oxbot.engine.risk import parse_hold  # noqa: PLC0415

    limits = dict(arena.risk)
    if isinstance(limits.get("max_hold_s"), str):  # "4h", as bots add --max-hold takes it
        try:
            limits["max_hold_s"] = parse_hold(limits["max_hold_s"])
        except ValueError as e:
            raise _fail(path, f"arena.risk.max_hold_s: {e}") from None
    try:
        return RiskLimits.model_validate(_plain_money(limits))
    except ValidationError as e:
        allowed = {"risk": sorted(RiskLimits.model_fields)}
        raise _fail(path, _pydantic_line(e, "arena.risk", allowed)) from None


def _plain_money(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


def _check_symbol(sym: str, key: str, path: Path) -> str:
    import re  # noqa: PLC0415

    s = sym.strip().upper()
    if not re.match(r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}$", s):
        raise _fail(path, f"{key}: symbol {sym!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    return s


def parse_duration(text: str) -> int:
    """Seconds of ``"90s"``, ``"30m"``, ``"6h"`` or ``"2d"``; ValueError if not one of those."""
    import re  # noqa: PLC0415

    m = re.fullmatch(r"\s*(\d{1,7})\s*([smhd])\s*", text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 30m, 6h or 2d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[m.group(2)]


def _live(arena: ArenaTable, path: Path) -> tuple[list[str], LiveMarket, int, Path | None]:
    """market = "live": the symbols, the table, the duration in seconds and the given db."""
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    for other in ("sim", "csv", "since", "until"):
        if getattr(arena, other) is not None:
            raise _fail(path, f'arena.{other}: not with market = "live"; drop it')
    live = arena.live
    if live is None:
        raise _fail(
            path,
            "arena.live: missing; add [arena.live] with exchange, symbols, timeframe and "
            'duration (e.g. exchange = "binance", duration = "6h")',
        )
    if live.mode.strip().lower() != "paper":
        raise _fail(
            path,
            f"arena.live.mode: {live.mode!r}; an arena trades PAPER only (drop mode, or "
            'write mode = "paper")',
        )
    if live.exchange == "sim":
        raise _fail(path, 'arena.live.exchange: "sim" is not an exchange; use market = "sim"')
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.exchange.quirks import check_exchange_id  # noqa: PLC0415

    try:
        check_exchange_id(live.exchange)
    except ConfigError as e:
        raise _fail(path, f"arena.live.exchange: {e}") from None
    symbols = [_check_symbol(s, "arena.live.symbols", path) for s in live.symbols]
    try:
        timeframe_seconds(live.timeframe)
    except (UsageError, ValueError) as e:
        raise _fail(path, f"arena.live.timeframe: {e}") from None
    try:
        seconds = parse_duration(live.duration)
    except ValueError as e:
        raise _fail(path, f"arena.live.duration: {e}") from None
    if not 1 <= seconds <= MAX_LIVE_S:
        raise _fail(path, f"arena.live.duration: {live.duration}; give 1s to 90d")
    db = None
    if live.db is not None:
        db = Path(live.db).expanduser()
        db = db if db.is_absolute() else path.parent / db
    return symbols, live, seconds, db


def _market(
    arena: ArenaTable, path: Path
) -> tuple[list[str], str, dict[str, str], SimMarket | None]:
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    if arena.live is not None:
        raise _fail(path, 'arena.live: only with market = "live"; drop it or change market')
    if arena.market == "sim":
        if arena.csv is not None:
            raise _fail(path, 'arena.csv: only with market = "csv"; drop it or change market')
        sim = arena.sim or SimMarket()
        symbols = [_check_symbol(s, "arena.sim.symbols", path) for s in sim.symbols]
        try:
            timeframe_seconds(sim.timeframe)
        except (UsageError, ValueError) as e:
            raise _fail(path, f"arena.sim.timeframe: {e}") from None
        return symbols, sim.timeframe, {}, sim
    if arena.sim is not None:
        raise _fail(path, 'arena.sim: only with market = "sim"; drop it or change market')
    if not arena.csv:
        raise _fail(
            path, 'arena.csv: missing; add [arena.csv] with "BTC/USDT" = "file.csv" per symbol'
        )
    files: dict[str, str] = {}
    keys: dict[str, str] = {}
    for sym, file in arena.csv.items():
        s = _check_symbol(sym, f'arena.csv."{sym}"', path)
        if s in keys:
            raise _fail(path, f'arena.csv."{s}": given twice ("{keys[s]}" and "{sym}"); keep one')
        keys[s] = sym
        f = Path(file).expanduser()
        f = f if f.is_absolute() else path.parent / f
        if not f.is_file():
            raise _fail(path, f'arena.csv."{sym}": no file {f}; give the path of its candles')
        files[s] = str(f)
    return list(files), _csv_timeframe(files, path), files, None


HEAD_CANDLES = 200  # candles read from each file's head to tell its timeframe


def _head_step(sym: str, file: str, path: Path) -> int:
    """The most common step between the first HEAD_CANDLES candle times of ``file`` (as the
    backtest takes a file's step: engine/market/csvdata.py ``step_ms``, the most common one)."""
    from collections import Counter  # noqa: PLC0415

    stamps: list[int] = []
    try:
        with open(file, encoding="utf-8") as f:
            for line in f:
                head = line.split(",", 1)[0].strip()
                if head.isdigit():
                    stamps.append(int(head))
                if len(stamps) >= HEAD_CANDLES:
                    break
    except UnicodeDecodeError:
        raise _fail(path, f'arena.csv."{sym}": {file} is not UTF-8 text') from None
    diffs = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    steps = [d for d in diffs if d > 0]
    if not steps and any(d < 0 for d in diffs):
        raise _fail(
            path,
            f'arena.csv."{sym}": {file} has its candles newest first; sort them oldest first',
        )
    if not steps:
        raise _fail(path, f'arena.csv."{sym}": {file} has too few candles to tell the timeframe')
    step, count = Counter(steps).most_common(1)[0]
    if count * 2 < len(steps):  # no spacing holds for most candles: not one timeframe
        raise _fail(
            path,
            f'arena.csv."{sym}": {file} has irregular candle spacing (its most common step '
            f"holds for {count} of its first {len(steps) + 1} candles); give candles of one "
            "timeframe",
        )
    return step


def _csv_timeframe(files: dict[str, str], path: Path) -> str:
    """The candle spacing of the files (their heads; the files are read fully later): one for
    all, else refused naming each file's spacing (every contestant on the same candles)."""
    from oxbot.app.backtests import timeframe  # noqa: PLC0415
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    steps = {sym: _head_step(sym, file, path) for sym, file in files.items()}
    first_sym = next(iter(steps))
    if len(set(steps.values())) > 1:
        each = ", ".join(f"{Path(files[s]).name} {timeframe(st)}" for s, st in steps.items())
        odd = next(s for s, st in steps.items() if st != steps[first_sym])
        raise _fail(
            path,
            f'arena.csv."{odd}": the files have different timeframes ({each}); '
            "give candles of one timeframe",
        )
    tf = timeframe(steps[first_sym])
    try:
        timeframe_seconds(tf)
    except (UsageError, ValueError):
        raise _fail(
            path, f'arena.csv."{first_sym}": candles {tf} apart are not a timeframe'
        ) from None
    return tf


# ---------------------------------------------------------------------------- contestants


def _as_bot(c: Contestant, i: int, path: Path) -> Contestant:
    """A live contestant's config under its bot's name, arena-<contestant>."""
    from oxbot.engine.models import BotConfig  # noqa: PLC0415

    try:
        config = BotConfig.model_validate({**c.config.model_dump(), "name": LIVE_PREFIX + c.name})
    except ValidationError:
        most = 40 - len(LIVE_PREFIX)
        raise _fail(
            path, f"contestant[{i + 1}].name: {c.name!r}; at most {most} characters in a live arena"
        ) from None
    return Contestant(c.name, c.kind, c.label, config)


def _contestant(item: Any, i: int, base: dict[str, Any], path: Path, db: Path | None) -> Contestant:
    where = f"contestant[{i + 1}]"
    if not isinstance(item, dict):
        raise _fail(path, f"{where}: must be a table ([[contestant]])")
    try:
        c = ContestantTable.model_validate(item)
    except ValidationError as e:
        raise _fail(path, _pydantic_line(e, where, {})) from None
    if c.name:
        where = f"{where} ({c.name})"
    if (c.strategy is None) == (c.bot is None):
        raise _fail(
            path,
            f'{where}: give either strategy = "sma_cross" (or another rule, or "llm") or '
            'bot = "NAME" (a stored bot)',
        )
    extra = dict(c.model_extra or {})
    if c.bot is not None:
        return _stored(c, extra, where, base, path, db)
    assert c.strategy is not None
    if c.strategy == "llm":
        return _llm(c, extra, where, base, path)
    if extra:
        key = sorted(extra)[0]
        raise _fail(
            path,
            f"{where}.{key}: unknown key; a rule contestant has name, strategy, params, "
            f"cadence_s (strategy parameters go in params = {{ ... }})",
        )
    name = c.name or c.strategy
    return _rule(name, c.strategy, _plain(c.params), c.cadence_s, where, base, path)


def _config(name: str, where: str, base: dict[str, Any], path: Path, **kw: Any) -> Any:
    from oxbot.engine.models import BotConfig  # noqa: PLC0415

    try:
        return BotConfig(name=name, **({"exchange": "sim"} | base), **kw)
    except ValidationError as e:
        raise _fail(path, _pydantic_line(e, where, {})) from None


def _rule(
    name: str,
    strategy: str,
    params: dict[str, Any],
    cadence_s: int,
    where: str,
    base: dict[str, Any],
    path: Path,
) -> Contestant:
    from oxbot.app import backtests  # noqa: PLC0415

    try:
        backtests.check_backtestable(strategy)
    except UsageError as e:
        raise _fail(path, f"{where}.strategy: {e}") from None
    try:
        strat = backtests.strategy(strategy, params)
    except UsageError as e:
        why = str(e).removeprefix(f"strategy {strategy}: ").removeprefix("value: ")
        raise _fail(path, f"{where}.params: {why}") from None
    config = _config(name, where, base, path, strategy=strategy, params=params, cadence_s=cadence_s)
    shown = " ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
    del strat
    return Contestant(name, "rule", f"{strategy} {shown}", config)


def _llm(
    c: ContestantTable, extra: dict[str, Any], where: str, base: dict[str, Any], path: Path
) -> Contestant:
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.llm.factory import resolved  # noqa: PLC0415
    from oxbot.engine.llm.strategy import LLMParams  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

    unknown = sorted(set(extra) - set(LLMParams.model_fields))
    if unknown:
        raise _fail(
            path,
            f"{where}.{unknown[0]}: unknown key; an LLM contestant takes name, strategy, "
            f"cadence_s and the LLM bot keys: {', '.join(sorted(LLMParams.model_fields))}",
        )
    params = {**_plain(c.params), **_plain(extra)}
    try:
        strat = build_strategy("llm", params)
    except ConfigError as e:
        raise _fail(path, f"{where}: {str(e).removeprefix('strategy llm: ')}") from None
    p = strat.params
    _printable(p.model, f"{where}.model", path)  # type: ignore[attr-defined]
    _url, model = resolved(p.provider, p.base_url, p.model)  # type: ignore[attr-defined]
    name = c.name or f"{p.provider}-{model}".replace("/", "-")[:40]  # type: ignore[attr-defined]
    config = _config(name, where, base, path, strategy="llm", params=params, cadence_s=c.cadence_s)
    return Contestant(name, "llm", f"{p.provider} {model}", config)  # type: ignore[attr-defined]


def _stored(
    c: ContestantTable,
    extra: dict[str, Any],
    where: str,
    base: dict[str, Any],
    path: Path,
    db: Path | None,
) -> Contestant:
    """A stored bot's strategy, params, LLM settings and cadence, on the arena's market with
    its capital, fees and risk limits (the same for all)."""
    import asyncio  # noqa: PLC0415

    from oxbot.app.backtests import stored_bot  # noqa: PLC0415
    from oxbot.engine.backtest.botrun import check_schedule  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    given = (
        sorted(extra)
        + [k for k in ("params",) if c.params]
        + (["cadence_s"] if c.cadence_s else [])
    )
    if given:
        raise _fail(
            path,
            f"{where}.{given[0]}: a bot contestant runs the stored bot's settings; it takes "
            "name and bot only (edit the bot, or use strategy = ... instead)",
        )
    assert c.bot is not None
    try:
        stored = asyncio.run(stored_bot(c.bot, resolve_db_path(str(db) if db else None)))
    except UsageError as e:
        raise _fail(path, f"{where}.bot: {e}") from None
    name = c.name or stored.name
    try:  # what `oxbot backtest --bot` refuses (a cron bot), the arena refuses too
        check_schedule(stored)
    except ConfigError as e:
        raise _fail(path, f"{where}.bot: {e}") from None
    if stored.strategy == "llm":
        params = {**stored.params, **stored.llm}
        label_c = ContestantTable(name=name, strategy="llm", cadence_s=stored.cadence_s)
        return _llm(label_c, params, where, base, path)
    return _rule(name, stored.strategy, dict(stored.params), stored.cadence_s, where, base, path)
