"""What an LLM bot's calls cost and how often they failed: the strategy's ``stats`` dict, which
the bot's view carries as typed ``LlmFigures`` (`figures`) for the bots table and `oxbot status`.

Every decision is counted, and every decision that ended as a HOLD because no usable answer
came (transport error, refused key, truncated or unreadable reply) is a failure: the failure
rate includes transport errors, and the last failure's reason stays until the next success.
Both survive a restart: `restore` reads them back from the stored decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..messages import LlmFigures
from ..models import DecisionRecord
from .pricing import Price, cost_usd
from .provider import Completion

REASON_CAP = 300  # characters of the last failure kept for display


def new_stats() -> dict[str, Any]:
    return {
        "decisions": 0,
        "llm_calls": 0,
        "calls_saved": 0,
        "repairs": 0,
        "fallbacks": 0,
        "failures": 0,
        "errors": 0,
        "parse_failures": {},
        "failure_rate": 0.0,
        "parse_failure_rate": 0.0,
        "last_failure": "",
        "last_failure_kind": "",
        "tokens_in_today": 0,
        "tokens_out_today": 0,
        "cost_today": Decimal(0),
        "tokens_in_total": 0,
        "tokens_out_total": 0,
        "cost_total": Decimal(0),
        "cost_per_decision": Decimal(0),
        "day": "",
        "unpriced_model": False,
        "budget_paused": False,
        "usage_estimates": 0,
        "last_trigger": "",
    }


def figures(stats: Mapping[str, Any]) -> LlmFigures:
    """The displays' copy of ``stats`` (a frozen value: the strategy goes on counting)."""
    return LlmFigures(
        provider=str(stats.get("provider", "")),
        model=str(stats.get("model", "")),
        decisions=stats["decisions"],
        llm_calls=stats["llm_calls"],
        calls_saved=stats["calls_saved"],
        repairs=stats["repairs"],
        tokens_in_today=stats["tokens_in_today"],
        tokens_out_today=stats["tokens_out_today"],
        tokens_in_total=stats["tokens_in_total"],
        tokens_out_total=stats["tokens_out_total"],
        cost_today=stats["cost_today"],
        cost_total=stats["cost_total"],
        cost_per_decision=stats["cost_per_decision"],
        unpriced=bool(stats["unpriced_model"]),
        budget_paused=bool(stats["budget_paused"]),
        failures=stats["failures"],
        transport_errors=stats["errors"],
        parse_failures=tuple(sorted(stats["parse_failures"].items())),
        failure_rate=stats["failure_rate"],
        parse_failure_rate=stats["parse_failure_rate"],
        last_failure=stats["last_failure"],
        last_failure_kind=stats["last_failure_kind"],
        last_trigger=stats["last_trigger"],
    )


class CallBook:
    """Updates ``stats`` (the dict itself is what the bot's view copies)."""

    def __init__(self, stats: dict[str, Any], price: Price | None) -> None:
        self.stats = stats
        self.price = price

    def roll_day(self, day: str) -> None:
        if self.stats["day"] != day:
            self.stats.update(day=day, tokens_in_today=0, tokens_out_today=0, cost_today=Decimal(0))

    def account(self, comp: Completion) -> Decimal:
        """Count one completed call; its cost (0 for a model without a price)."""
        cost = cost_usd(self.price, comp.tokens_in, comp.tokens_out)
        s = self.stats
        s["llm_calls"] += 1
        if comp.usage_note:
            s["usage_estimates"] += 1
        for span in ("today", "total"):
            s[f"tokens_in_{span}"] += comp.tokens_in
            s[f"tokens_out_{span}"] += comp.tokens_out
            s[f"cost_{span}"] += cost
        return cost

    def decided(self) -> None:
        self.stats["decisions"] += 1

    def failed(
        self, reason: str, kind: str, *, transport: bool = False, parse_model: str | None = None
    ) -> None:
        """One decision ended as a counted HOLD because of ``reason`` (``kind``: the same in
        a few words, for the bots table)."""
        s = self.stats
        s["fallbacks"] += 1
        s["failures"] += 1
        if transport:
            s["errors"] += 1
        if parse_model is not None:
            fails = s["parse_failures"]
            fails[parse_model] = fails.get(parse_model, 0) + 1
        s["last_failure"] = reason[:REASON_CAP]
        s["last_failure_kind"] = kind
        self._rates()

    def succeeded(self) -> None:
        self.stats["last_failure"] = self.stats["last_failure_kind"] = ""
        self._rates()

    def _rates(self) -> None:
        s = self.stats
        n = s["decisions"]
        s["failure_rate"] = s["failures"] / n if n else 0.0
        s["parse_failure_rate"] = sum(s["parse_failures"].values()) / n if n else 0.0
        s["cost_per_decision"] = s["cost_total"] / n if n else Decimal(0)

    def restore(self, stored: Mapping[str, Any], recent: Sequence[DecisionRecord]) -> None:
        """Counts from the stored decisions (`Store.decision_stats`) and the last failure from
        the newest one: a restart shows what the bot did before it."""
        s = self.stats
        s["decisions"] = int(stored.get("count", 0))
        s["failures"] = s["fallbacks"] = int(stored.get("failures", 0))
        s["cost_total"] = Decimal(stored.get("cost", 0))
        s["cost_today"] = Decimal(stored.get("cost_today", 0))
        s["tokens_in_total"] = int(stored.get("tokens_in", 0))
        s["tokens_out_total"] = int(stored.get("tokens_out", 0))
        newest = next((r for r in reversed(recent) if r.source != "risk"), None)
        s["last_failure"] = newest.error[:REASON_CAP] if newest is not None else ""
        s["last_failure_kind"] = "failed" if s["last_failure"] else ""
        self._rates()
