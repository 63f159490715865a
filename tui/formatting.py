"""Text for numbers, times and states. Meaning is always in the text (sign, words, symbols);
colour only repeats it, so a 16-colour or monochrome terminal still tells the truth."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal

STATUS_TEXT = {
    "running": "▶ running",
    "paused": "⏸ paused",
    "stopped": "■ stopped",
    "error": "✖ error",
}
STATUS_VARIABLE = {
    "running": "bot-running",
    "paused": "bot-paused",
    "stopped": "bot-stopped",
    "error": "bot-error",
}


def _fixed(value: Decimal | float) -> Decimal | float:
    """Decimals rounded half-even under a fresh context: ccxt sets ROUND_HALF_UP on the
    context of any thread that calls it, and a display must not depend on who ran before."""
    return Decimal(value).normalize(Context(prec=34)) if isinstance(value, Decimal) else value


def money(value: Decimal | float, places: int = 2) -> str:
    v = _fixed(value)
    if isinstance(v, Decimal):
        v = v.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN, Context(prec=34))
    return f"{v:,.{places}f}"


def signed_money(value: Decimal | float) -> str:
    v = _fixed(value)
    if isinstance(v, Decimal):
        v = v.quantize(Decimal("0.01"), ROUND_HALF_EVEN, Context(prec=34))
    return f"{v:+,.2f}"


def signed_pct(value: Decimal | float) -> str:
    """P&L percent with its sign as text: +1.23% / -0.50% / ±0.00% (exactly flat); a move
    too small for two decimals keeps its sign: -<0.01% (never "-0.89 (±0.00%)")."""
    v = float(value)
    if v == 0:
        return "±0.00%"
    if abs(v) < 0.005:
        return f"{'+' if v > 0 else '-'}<0.01%"
    fixed = _fixed(value)
    if isinstance(fixed, Decimal):
        fixed = fixed.quantize(Decimal("0.01"), ROUND_HALF_EVEN, Context(prec=34))
    return f"{fixed:+.2f}%"


def pnl_variable(value: Decimal | float) -> str:
    v = float(value)
    return "pnl-up" if v >= 0.005 else "pnl-down" if v <= -0.005 else "pnl-flat"


QTY_DIGITS = 5  # significant digits: 0.01581948 -> 0.01582, everywhere a quantity shows
COMMON_QUOTE = "USDT"  # left out of symbols where space is short: BTC/USDT -> BTC


def qty(value: Decimal) -> str:
    """A quantity with at most QTY_DIGITS significant digits, never in exponent form."""
    if not value:
        return "0"
    places = max(0, QTY_DIGITS - 1 - value.adjusted())
    text = f"{round(value, places):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def short_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC``; other quotes are kept (``ETH/BTC``)."""
    base, _, quote = symbol.partition("/")
    return base if quote == COMMON_QUOTE else symbol


def price(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if value >= 100 else f"{value:.4f}"


def hhmm(ts_ms: int | None) -> str:
    if not ts_ms:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M")


def clock_text(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M:%S UTC")


def duration(ms: int | None) -> str:
    """Compact 'in' time: 45s, 3m, 2h05m; '—' when unknown, 'now' when due."""
    if ms is None:
        return "—"
    s = ms // 1000
    if s <= 0:
        return "now"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def count(n: int, noun: str, plural: str = "") -> str:
    """``1 open position``, ``2 open positions``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
