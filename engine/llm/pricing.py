"""USD per 1M tokens (input, output) by model. Editable: a bot's ``prices`` param and the
strategy's ``price_table`` argument override these. Figures are list prices as published by
the providers in 2025; check your provider's page - local models (Ollama, vLLM, LM Studio)
cost 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

Price = tuple[Decimal, Decimal]
MILLION = Decimal(1_000_000)


def _p(i: str, o: str) -> Price:
    return Decimal(i), Decimal(o)


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": _p("0.15", "0.60"),
    "gpt-4o": _p("2.50", "10"),
    "gpt-4.1": _p("2", "8"),
    "gpt-4.1-mini": _p("0.40", "1.60"),
    "gpt-4.1-nano": _p("0.10", "0.40"),
    "gpt-5": _p("1.25", "10"),
    "gpt-5-mini": _p("0.25", "2"),
    "gpt-5-nano": _p("0.05", "0.40"),
    "o4-mini": _p("1.10", "4.40"),
    "claude-3-5-haiku": _p("0.80", "4"),
    "claude-haiku-4-5": _p("1", "5"),
    "claude-sonnet-4": _p("3", "15"),
    "claude-sonnet-4-5": _p("3", "15"),
    "claude-opus-4": _p("15", "75"),
    "deepseek-chat": _p("0.28", "0.42"),
    "deepseek-reasoner": _p("0.28", "0.42"),
    "qwen-turbo": _p("0.05", "0.20"),
    "qwen-plus": _p("0.40", "1.20"),
    "qwen-max": _p("1.60", "6.40"),
    "offline-rules": _p("0", "0"),
}


def lookup(model: str, table: Mapping[str, Price]) -> Price | None:
    """Exact name, else the longest table key the name starts with (dated snapshots), after
    dropping an OpenRouter-style vendor prefix ("openai/gpt-4o-mini")."""
    name = model.strip().lower()
    if name in table:
        return table[name]
    name = name.rsplit("/", 1)[-1]
    if name in table:
        return table[name]
    best = max((k for k in table if name.startswith(k)), key=len, default=None)
    return table[best] if best else None


def cost_usd(price: Price | None, tokens_in: int, tokens_out: int) -> Decimal:
    if price is None:
        return Decimal(0)
    return (price[0] * tokens_in + price[1] * tokens_out) / MILLION
