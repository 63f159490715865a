"""`LLMStrategy`: a bot whose decisions come from an LLM (or the offline rules).

Per decision: build a compact prompt, stream the reply through ``ctx.emit``, parse it into a
validated `Decision` (one repair re-ask at most, then a counted HOLD), and account tokens and
dollars. The decision only proposes size/SL/TP: the RiskManager sizes, clamps or rejects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..errors import BudgetExceeded, LLMError, OxbotError
from ..market.indicators import FULL_SET, IndicatorSpec
from ..models import Decision
from ..strategies.base import DecisionContext, Strategy, StrategyParams
from .decision import Parsed, hold_decision, json_schema, parse_reply, to_decision
from .errors import LLMAuthError
from .factory import PROVIDERS, KeyResolver, make_provider, resolved
from .offline import OfflineFacts
from .pricing import DEFAULT_PRICES, Price, cost_usd, lookup
from .prompt import Prompt, build_prompt
from .provider import ChatRequest, Completion, Provider
from .triggers import TriggerState, check, mark_decided

CAP = 8000  # characters of prompt / raw reply kept in meta (and so in the database)
ProviderName = Literal["openai", "anthropic", "openai_compatible", "deepseek", "qwen",
                       "openrouter", "ollama", "offline"]

REPAIR = ("Your reply could not be used: {error}.\nReply again with ONLY the JSON object in "
          "the format asked for, one entry per symbol ({symbols}), no other text.")


class LLMParams(StrategyParams):
    provider: ProviderName = Field("offline", description="who answers")
    model: str = Field("", max_length=200, description="model name; empty = provider default")
    base_url: str = Field("", max_length=500, description="API base URL; empty = default")
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(1200, ge=64, le=32000)
    timeout_s: float = Field(60, gt=0, le=600, description="total deadline per call")
    system_prompt: str = Field("", max_length=20000, description="empty = built-in")
    template: str = Field("", max_length=20000, description="empty = built-in; {placeholders}")
    memory: int = Field(5, ge=0, le=50, description="past decisions shown to the model")
    candles: int = Field(12, ge=3, le=60, description="recent closes shown per symbol")
    cadence: Literal["interval", "trigger"] = "interval"
    trigger_move_pct: float = Field(1.0, ge=0, le=100)
    trigger_rsi_cross: bool = True
    trigger_ema_cross: bool = True
    trigger_sltp_pct: float = Field(0.5, ge=0, le=50)
    daily_budget_usd: Decimal = Field(Decimal(0), ge=0, description="0 = no budget")
    prices: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=dict, description="model -> USD per 1M tokens (in, out)")
    structured: Literal["auto", "prompt"] = Field("auto", description="JSON mode use")
    anthropic_prefill: bool = True

    @model_validator(mode="after")
    def _compatible_needs_url(self) -> LLMParams:
        if self.provider == "openai_compatible" and not (self.base_url and self.model):
            raise ValueError("provider openai_compatible needs base_url and model, e.g. "
                             "base_url=http://127.0.0.1:8000/v1 (vLLM) or "
                             "http://127.0.0.1:1234/v1 (LM Studio)")
        return self


def _new_stats() -> dict[str, Any]:
    return {"decisions": 0, "llm_calls": 0, "calls_saved": 0, "repairs": 0, "fallbacks": 0,
            "errors": 0, "parse_failures": {}, "tokens_in_today": 0, "tokens_out_today": 0,
            "cost_today": Decimal(0), "tokens_in_total": 0, "tokens_out_total": 0,
            "cost_total": Decimal(0), "cost_per_decision": Decimal(0), "day": "",
            "unpriced_model": False, "last_trigger": ""}


class LLMStrategy(Strategy):
    """Decisions from an LLM reading indicators, positions and its own memory."""

    name = "llm"
    Params = LLMParams
    description = "LLM-driven: any OpenAI-compatible or Anthropic model, or offline rules"
    params: LLMParams

    def __init__(self, params: StrategyParams | None = None, *,
                 key_resolver: KeyResolver | None = None,
                 price_table: Mapping[str, Price] | None = None,
                 today: Callable[[], date] | None = None,
                 backoff_base_s: float = 0.5) -> None:
        super().__init__(params)
        self._key_resolver = key_resolver or (lambda _p: None)
        self.prices: dict[str, Price] = {**DEFAULT_PRICES, **(price_table or {}),
                                         **{k.lower(): v for k, v in self.params.prices.items()}}
        self._today = today or (lambda: datetime.now(UTC).date())
        self._backoff = backoff_base_s
        self._provider: Provider | None = None
        self._triggers = TriggerState()
        self.base_url, self.model = resolved(self.params.provider, self.params.base_url,
                                             self.params.model)
        self.stats: dict[str, Any] = _new_stats()
        # What the bots table shows for an LLM bot (it reads BotView.stats, a copy of this).
        self.stats.update(provider=self.params.provider, model=self.model,
                          parse_failure_rate=0.0)

    # -- Strategy interface -----------------------------------------------------------------

    def indicators(self) -> list[IndicatorSpec]:
        return list(FULL_SET)

    def warmup(self) -> int:
        return 2  # the model copes with missing indicators ("n/a"); no need to wait 35 bars

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        """No vectorised signals: an LLM decides per cycle, through `decide`."""
        return np.zeros(len(frame), dtype=np.int8)

    def wants_decision(self, ctx: DecisionContext) -> bool:
        if self.params.cadence == "interval":
            return True
        p = self.params
        why = check(ctx.frames, ctx.positions, self._triggers, move_pct=p.trigger_move_pct,
                    rsi_cross=p.trigger_rsi_cross, ema_cross=p.trigger_ema_cross,
                    sltp_pct=p.trigger_sltp_pct)
        if why is None:
            self.stats["calls_saved"] += 1
            return False
        self.stats["last_trigger"] = why
        return True

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
            self._provider = None

    # -- accounting ---------------------------------------------------------------------------

    def _roll_day(self) -> None:
        day = self._today().isoformat()
        if self.stats["day"] != day:
            self.stats.update(day=day, tokens_in_today=0, tokens_out_today=0,
                              cost_today=Decimal(0))

    def restore_today(self, cost_today: Decimal) -> None:
        """Seed today's spend from the stored decisions (a restart or an edit must not reset
        the daily budget)."""
        self._roll_day()
        self.stats["cost_today"] = cost_today

    def check_budget(self, bot: str) -> None:
        """Raise BudgetExceeded when today's spend reached the daily budget."""
        self._roll_day()
        budget = self.params.daily_budget_usd
        if budget > 0 and self.stats["cost_today"] >= budget:
            raise BudgetExceeded(
                f"bot {bot} reached its daily LLM budget (${self.stats['cost_today']:.4f} of "
                f"${budget}); it can decide again after 00:00 UTC, or raise daily_budget_usd"
            )

    def _account(self, comp: Completion) -> Decimal:
        price = lookup(self.model, self.prices)
        if price is None and self.params.provider not in ("ollama", "offline"):
            self.stats["unpriced_model"] = True  # shown: a budget cannot work without a price
        cost = cost_usd(price, comp.tokens_in, comp.tokens_out)
        s = self.stats
        s["llm_calls"] += 1
        for span in ("today", "total"):
            s[f"tokens_in_{span}"] += comp.tokens_in
            s[f"tokens_out_{span}"] += comp.tokens_out
            s[f"cost_{span}"] += cost
        return cost

    def parse_failure_rate(self) -> float:
        fails = sum(self.stats["parse_failures"].values())
        return fails / self.stats["decisions"] if self.stats["decisions"] else 0.0

    # -- the decision -------------------------------------------------------------------------

    def _get_provider(self) -> Provider:
        if self._provider is None:
            p = self.params
            key = None
            if p.provider != "offline":
                try:
                    key = self._key_resolver(p.provider)
                except OxbotError:
                    if PROVIDERS[p.provider].needs_key:
                        raise  # the secrets layer's text names the fix
            self._provider = make_provider(
                p.provider, base_url=p.base_url, model=p.model, api_key=key,
                timeout_s=p.timeout_s, structured=p.structured, prefill=p.anthropic_prefill,
                backoff_base_s=self._backoff)
        return self._provider

    def build(self, ctx: DecisionContext) -> Prompt:
        """The prompt for this cycle (public: the TUI can preview it with its token count)."""
        p = self.params
        return build_prompt(
            bot=ctx.bot, ts=ctx.ts, symbols=ctx.config.symbols, timeframe=ctx.config.timeframe,
            frames=ctx.frames, htf_frames=ctx.extra.get("htf_frames") or {},
            positions=ctx.positions, cash=ctx.cash, equity=ctx.equity, limits=ctx.config.risk,
            memory=ctx.memory, outcomes=ctx.extra.get("outcomes") or (),
            notes=ctx.extra.get("notes"), memory_n=p.memory, system_prompt=p.system_prompt,
            template=p.template, n_closes=p.candles)

    async def decide(self, ctx: DecisionContext) -> Decision:
        self.check_budget(ctx.bot)  # before any network call
        started = datetime.now(UTC)
        prompt = self.build(ctx)
        provider = self._get_provider()
        symbols = list(ctx.config.symbols)
        req = ChatRequest(prompt.system, [{"role": "user", "content": prompt.user}],
                          max_tokens=self.params.max_tokens,
                          temperature=self.params.temperature, json_schema=json_schema(symbols),
                          facts=OfflineFacts(prompt.facts, set(ctx.positions)))
        meta: dict[str, Any] = {
            "provider": self.params.provider, "model": self.model,
            "prompt_hash": prompt.prompt_hash, "prompt": prompt.text[:CAP],
            "prompt_tokens_estimate": prompt.token_estimate, "raw_reply": "", "parsed": "null",
            "error": "", "tokens_in": 0, "tokens_out": 0, "cost": Decimal(0), "latency_ms": 0,
            "trigger": self.stats["last_trigger"],
        }
        raws: list[str] = []
        self.stats["decisions"] += 1
        try:
            parsed = await self._ask(provider, req, ctx, meta, raws, symbols)
        except LLMAuthError:
            await self.aclose()  # the next cycle asks the keyring again
            raise
        except LLMError as e:
            self.stats["errors"] += 1
            parsed = Parsed(None, str(e))
            ctx.emit(f"\n[LLM call failed: {e}] holding\n")
        meta["raw_reply"] = "\n--- repair ---\n".join(raws)[:CAP]
        meta["latency_ms"] = int((datetime.now(UTC) - started).total_seconds() * 1000)
        self.stats["cost_per_decision"] = self.stats["cost_total"] / self.stats["decisions"]
        self.stats["parse_failure_rate"] = self.parse_failure_rate()
        mark_decided(ctx.frames, self._triggers)
        if parsed.reply is None:
            self.stats["fallbacks"] += 1
            return hold_decision(bot=ctx.bot, ts=ctx.ts, symbols=symbols, error=parsed.error,
                                 meta=meta)
        source = "offline" if self.params.provider == "offline" else "llm"
        return to_decision(parsed.reply, bot=ctx.bot, ts=ctx.ts, symbols=symbols,
                           positions=ctx.positions, prices=prompt.prices, source=source,
                           meta={**meta, "error": ""})

    async def _ask(self, provider: Provider, req: ChatRequest, ctx: DecisionContext,
                   meta: dict[str, Any], raws: list[str], symbols: list[str]) -> Parsed:
        """One call, and at most one repair re-ask; failures are counted per model."""
        parsed = await self._call(provider, req, ctx, meta, raws, symbols)
        if parsed.reply is not None:
            return parsed
        self.stats["repairs"] += 1
        ctx.emit(f"\n[reply unusable: {parsed.error}; asking once more]\n")
        try:
            self.check_budget(ctx.bot)
        except BudgetExceeded as e:
            return self._failed(Parsed(None, f"{parsed.error}; no repair: {e}"))
        repair = ChatRequest(req.system, [
            *req.messages,
            {"role": "assistant", "content": raws[-1][:4000] or "(empty)"},
            {"role": "user", "content": REPAIR.format(error=parsed.error[:500],
                                                      symbols=", ".join(symbols))},
        ], req.max_tokens, req.temperature, req.json_schema, req.facts)
        second = await self._call(provider, repair, ctx, meta, raws, symbols)
        if second.reply is None:
            return self._failed(Parsed(None, f"after one repair: {second.error}"))
        return second

    def _failed(self, parsed: Parsed) -> Parsed:
        fails = self.stats["parse_failures"]
        fails[self.model] = fails.get(self.model, 0) + 1
        return parsed

    async def _call(self, provider: Provider, req: ChatRequest, ctx: DecisionContext,
                    meta: dict[str, Any], raws: list[str], symbols: list[str]) -> Parsed:
        comp = await provider.complete(req, ctx.emit)
        raws.append(comp.text)
        cost = self._account(comp)
        meta["tokens_in"] += comp.tokens_in
        meta["tokens_out"] += comp.tokens_out
        meta["cost"] += cost
        meta["usage_estimated"] = comp.usage_estimated
        meta["json_mode"] = comp.json_mode
        return parse_reply(comp.text, symbols)
