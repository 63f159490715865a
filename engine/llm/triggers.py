"""Trigger cadence: call the model only when something happened, so quiet markets cost nothing.

Fires on: a price move of at least ``move_pct`` since the last decision, RSI crossing 30 or 70,
EMA20 crossing EMA50, or a held position's price within ``sltp_pct`` of its stop or target.
The first cycle always fires (there is no last decision to compare with).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..models import Position

if TYPE_CHECKING:  # pandas where a frame is first read, not on import
    import pandas as pd


@dataclass
class TriggerState:
    ref_price: dict[str, float] = field(default_factory=dict)  # price at the last decision
    last_rsi: dict[str, float] = field(default_factory=dict)  # as seen at the last cycle
    last_ema_sign: dict[str, int] = field(default_factory=dict)


def _last(frame: pd.DataFrame, col: str, back: int = 1) -> float | None:
    if col not in frame.columns or len(frame) < back:
        return None
    v = float(frame[col].iloc[-back])
    return v if math.isfinite(v) else None


def _sign(a: float | None, b: float | None) -> int | None:
    if a is None or b is None:
        return None
    return 1 if a > b else -1 if a < b else 0


def check(
    frames: Mapping[str, pd.DataFrame],
    positions: Mapping[str, Position],
    state: TriggerState,
    *,
    move_pct: float,
    rsi_cross: bool,
    ema_cross: bool,
    sltp_pct: float,
) -> str | None:
    """The reason a decision is due now, or None. Updates the per-cycle memory in ``state``."""
    reasons: list[str] = []
    first = not state.ref_price
    for sym, frame in frames.items():
        price = _last(frame, "close")
        if price is None:
            continue
        ref = state.ref_price.get(sym)
        if ref and move_pct > 0 and abs(price / ref - 1) * 100 >= move_pct:
            reasons.append(f"{sym} moved {(price / ref - 1) * 100:+.2f}% since last decision")
        rsi = _last(frame, "rsi_14")
        prev_rsi = state.last_rsi.get(sym, _last(frame, "rsi_14", 2))
        if rsi_cross and rsi is not None and prev_rsi is not None:
            for level in (30.0, 70.0):
                if (prev_rsi - level) * (rsi - level) < 0:
                    reasons.append(f"{sym} RSI crossed {level:g} ({prev_rsi:.1f} -> {rsi:.1f})")
        if rsi is not None:
            state.last_rsi[sym] = rsi
        sign = _sign(_last(frame, "ema_20"), _last(frame, "ema_50"))
        prev = state.last_ema_sign.get(
            sym, _sign(_last(frame, "ema_20", 2), _last(frame, "ema_50", 2))
        )
        if ema_cross and sign is not None and prev is not None and sign * prev < 0:
            reasons.append(f"{sym} EMA20 crossed {'above' if sign > 0 else 'below'} EMA50")
        if sign:
            state.last_ema_sign[sym] = sign
        pos = positions.get(sym)
        if pos is not None and sltp_pct > 0:
            for label, lvl in (("stop", pos.stop_loss), ("target", pos.take_profit)):
                if lvl and abs(price / float(lvl) - 1) * 100 <= sltp_pct:
                    reasons.append(f"{sym} within {sltp_pct:g}% of its {label} {lvl}")
    if first:
        return "first decision"
    return "; ".join(reasons) or None


def mark_decided(frames: Mapping[str, pd.DataFrame], state: TriggerState) -> None:
    """Remember the prices a decision was made at: the next move is measured from here."""
    for sym, frame in frames.items():
        price = _last(frame, "close")
        if price is not None:
            state.ref_price[sym] = price
