"""The offline provider: deterministic rules written out as reasoning. NOT an LLM.

It exists for the demo and for machines without keys. Its text says "offline rules — not an
LLM" first, it streams in chunks like a real provider, and its decision JSON goes through the
same parser as a model's reply, so the whole path is exercised without a network.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from .facts import SymbolFacts, TfFacts, num
from .provider import ChatRequest, ChunkSink, Completion, Provider
from .usage import estimate_tokens

LABEL = "offline rules — not an LLM"
CHUNK_CHARS = 48
BUY_SIZE_PCT = 10


@dataclass
class OfflineFacts:
    """What the offline rules read: the prompt's facts and the symbols held."""

    facts: list[SymbolFacts]
    held: set[str] = field(default_factory=set)


def score(t: TfFacts) -> tuple[int, list[str]]:
    """A vote per indicator: +1 bullish, -1 bearish; with the words that explain it."""
    pts, why = 0, []  # type: int, list[str]
    emas = f"{num(t.get('ema_20'))} vs {num(t.get('ema_50'))}"
    if t.trend == "up":
        pts, why = pts + 1, [*why, f"+1 EMA20 above EMA50 ({emas}, uptrend)"]
    elif t.trend == "down":
        pts, why = pts - 1, [*why, f"-1 EMA20 below EMA50 ({emas}, downtrend)"]
    rsi = t.get("rsi_14")
    if rsi is not None:
        if rsi < 30:
            pts, why = pts + 1, [*why, f"+1 RSI {num(rsi, 3)} oversold"]
        elif rsi > 70:
            pts, why = pts - 1, [*why, f"-1 RSI {num(rsi, 3)} overbought"]
        else:
            why.append(f"0 RSI {num(rsi, 3)} neutral")
    hist = t.get("macd_hist")
    if hist is not None and hist != 0:
        pts += 1 if hist > 0 else -1
        why.append(f"{'+1' if hist > 0 else '-1'} MACD histogram {num(hist, 3)}")
    pos = t.bb_pos
    if pos is not None:
        where = f"Bollinger position {pos * 100:.0f}%"
        if pos < 0.1:
            pts, why = pts + 1, [*why, f"+1 {where} (lower band)"]
        elif pos > 0.9:
            pts, why = pts - 1, [*why, f"-1 {where} (upper band)"]
        else:
            why.append(f"0 {where}")
    return pts, why


def decide_symbol(f: SymbolFacts, held: bool) -> dict[str, Any]:
    if f.price is None or not f.tfs:
        return {
            "symbol": f.symbol,
            "action": "hold",
            "size_pct": None,
            "stop_loss": None,
            "take_profit": None,
            "confidence": 0.0,
            "reasoning": "no data yet",
        }
    pts, why = score(f.tfs[0])
    action = "hold"
    if pts >= 2 and not held:
        action = "buy"
    elif pts <= -2 and held:
        action = "close"
    atr = f.tfs[0].get("atr_14") or f.price * 0.01
    buy = action == "buy"
    return {
        "symbol": f.symbol,
        "action": action,
        "size_pct": BUY_SIZE_PCT if buy else None,
        "stop_loss": float(num(f.price - 2 * atr, 6)) if buy else None,
        "take_profit": float(num(f.price + 3 * atr, 6)) if buy else None,
        "confidence": round(min(1.0, abs(pts) / 4), 2),
        "reasoning": f"score {pts:+d}: " + ", ".join(why) if why else f"score {pts:+d}",
    }


def write_reply(data: OfflineFacts) -> tuple[str, str]:
    """(the labelled prose per symbol, the decision JSON). The prose is streamed like a
    reasoning model's thinking; the answer is the JSON alone, as a model's must be."""
    calls = [decide_symbol(f, f.symbol in data.held) for f in data.facts]
    lines = [f"[{LABEL}]"]
    for c in calls:
        lines.append(f"{c['symbol']}: {c['action'].upper()} - {c['reasoning']}")
    # The analysis (what the cockpit shows) carries each symbol's votes and values: the same
    # sentence every cycle would tell the user nothing.
    votes = "\n".join(f"{c['symbol']} {c['action'].upper()}, {c['reasoning']}" for c in calls)
    reply = {"analysis": f"{LABEL}:\n{votes or 'no symbols'}", "decisions": calls}
    return "\n".join(lines) + "\n", json.dumps(reply, ensure_ascii=False)


class OfflineProvider(Provider):
    """Streams `write_reply` in chunks; token counts are estimates and cost nothing."""

    name = "offline"

    def __init__(self, model: str = "offline-rules") -> None:
        self.model = model
        self.requests_sent = 0

    async def complete(self, req: ChatRequest, on_chunk: ChunkSink) -> Completion:
        self.requests_sent += 1
        data = req.facts if isinstance(req.facts, OfflineFacts) else OfflineFacts([])
        thought, text = write_reply(data)
        shown = thought + text
        for i in range(0, len(shown), CHUNK_CHARS):
            on_chunk(shown[i : i + CHUNK_CHARS])
            await asyncio.sleep(0)  # let the panel render between chunks
        prompt = req.system + "".join(m["content"] for m in req.messages)
        return Completion(
            text,
            estimate_tokens(prompt),
            estimate_tokens(text),
            usage_estimated=True,
            json_mode="prompt",
        )
