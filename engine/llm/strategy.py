"""`LLMStrategy`: a bot whose decisions come from an LLM (or the offline rules).

Per decision: build a compact prompt, stream the reply through ``ctx.emit``, parse it into a
validated `Decision` (one repair re-ask at most, then a counted HOLD), and account tokens and
dollars. The decision only proposes size/SL/TP: the RiskManager sizes, clamps or rejects.

Only a finished reply (the provider says it stopped on its own) whose whole text is one valid
decision object can trade. Every other outcome - a transport error, a refused key, a reply cut
off or filtered, prose, two objects, an unreadable number - is a HOLD, counted as a failure
with its reason (`accounting.CallBook`); nothing a provider sends can crash the cycle. All text
of the returned Decision is made storable and has known secrets blanked (`_clean`), so the
record the engine builds from it can always be written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ..arrays import Signals
from ..errors import BudgetExceeded, ConfigError, LLMError, OxbotError
from ..market.indicators import FULL_SET, IndicatorSpec
from ..messages import LlmFigures
from ..models import Decision, DecisionRecord
from ..strategies.base import DecisionContext, Strategy, StrategyParams
from ..textsafe import RedactingSink, SecretText, storable
from .accounting import CallBook, figures, new_stats
from .catalog import FREE_PROVIDERS, PROVIDERS, ProviderName
from .decision import Parsed, hold_decision, json_schema, parse_reply, to_decision
from .errors import LLMAuthError
from .factory import KeyResolver, make_provider, resolved
from .offline import OfflineFacts
from .pricing import DEFAULT_PRICES, Price, lookup
from .prompt import Prompt, build_prompt
from .provider import ChatRequest, ChunkSink, Provider
from .triggers import TriggerState, check, mark_decided
from .usage import Spent

if TYPE_CHECKING:  # pandas where a frame is first read, not on import
    import pandas as pd

CAP = 8000  # characters of prompt / raw reply kept in meta (and so in the database)
REDACTED = "[redacted]"

REPAIR = (
    "Your reply could not be used: {error}.\nReply again with ONLY the JSON object in "
    "the format asked for, one entry per symbol ({symbols}), no other text."
)

# Why a reply that did not finish on its own is not read (Completion.finish), and the same
# in a few words for the bots table.
UNFINISHED = {
    "length": ("the reply was cut off at max_tokens before it ended", "cut off"),
    "max_tokens": ("the reply was cut off at max_tokens before it ended", "cut off"),
    "content_filter": ("the provider's content filter withheld part of the reply", "filtered"),
    "refusal": ("the model refused to answer", "refused"),
    "missing": ("the reply's stream ended without saying it was finished (cut off)", "cut off"),
}
# A failed call in a few words, by error class name (most specific first).
CALL_FAILED = {
    "LLMAuthError": "key refused",
    "SecretsError": "keyring",
    "LLMTimeout": "timeout",
    "LLMRateLimited": "rate limited",
    "LLMUnavailable": "unavailable",
    "LLMBadRequest": "bad request",
    "LLMBadResponse": "bad stream",
}


class Redaction:
    """Known secrets, as the composition root knows them (the engine never imports storage):
    ``text`` blanks them, ``open_tail`` says how much of a text's end may begin one."""

    def __init__(self, text: Callable[[str], str], open_tail: Callable[[str], int]) -> None:
        self.text = text
        self.open_tail = open_tail


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
        default_factory=dict, description="model -> USD per 1M tokens (in, out)"
    )
    structured: Literal["auto", "prompt"] = Field("auto", description="JSON mode use")
    anthropic_prefill: bool = True

    @model_validator(mode="after")
    def _compatible_needs_url(self) -> LLMParams:
        if self.provider == "openai_compatible" and not (self.base_url and self.model):
            raise ValueError(
                "provider openai_compatible needs base_url and model, e.g. "
                "base_url=http://127.0.0.1:8000/v1 (vLLM) or "
                "http://127.0.0.1:1234/v1 (LM Studio)"
            )
        return self


class LLMStrategy(Strategy):
    """Decisions from an LLM reading indicators, positions and its own memory."""

    name = "llm"
    Params = LLMParams
    description = "LLM-driven: any OpenAI-compatible or Anthropic model, or offline rules"
    params: LLMParams

    def __init__(
        self,
        params: StrategyParams | None = None,
        *,
        key_resolver: KeyResolver | None = None,
        price_table: Mapping[str, Price] | None = None,
        today: Callable[[], date] | None = None,
        backoff_base_s: float = 0.5,
        redaction: Redaction | None = None,
    ) -> None:
        super().__init__(params)
        self._key_resolver = key_resolver or (lambda _p: None)
        self.prices: dict[str, Price] = {
            **DEFAULT_PRICES,
            **(price_table or {}),
            **{k.lower(): v for k, v in self.params.prices.items()},
        }
        self._today = today or (lambda: datetime.now(UTC).date())
        self._backoff = backoff_base_s
        self._redaction = redaction
        self._key = SecretText()  # the provider's key, blanked from every text (and 12+
        # characters of it) like other secrets
        self._provider: Provider | None = None
        # A backtest's hook: wraps the provider once it is built (the reply cache,
        # engine/backtest/replies.py). Live bots leave it None.
        self.provider_wrap: Callable[[Provider], Provider] | None = None
        self._triggers = TriggerState()
        self.base_url, self.model = resolved(
            self.params.provider, self.params.base_url, self.params.model
        )
        self.price = lookup(self.model, self.prices)
        self.stats: dict[str, Any] = new_stats()
        # What the bots table shows for an LLM bot (BotView.llm, a typed copy of this).
        self.stats.update(
            provider=self.params.provider,
            model=self.model,
            unpriced_model=(self.price is None and self.params.provider not in FREE_PROVIDERS),
        )
        self.book = CallBook(self.stats, self.price)

    def check_setup(self) -> None:
        """ConfigError when this bot cannot work as configured; the engine asks before a bot
        is added, changed or started. A daily budget needs the model's price: without one
        every call would cost $0 and the budget would never stop anything."""
        if self.params.daily_budget_usd > 0 and self.price is None:
            raise ConfigError(
                f"daily_budget_usd needs the price of model {self.model!r}, which oxbot does not "
                f'know; give it with prices={{"{self.model}": [IN, OUT]}} (USD per 1M input '
                "and output tokens), or set daily_budget_usd to 0"
            )

    # -- Strategy interface -----------------------------------------------------------------

    def indicators(self) -> list[IndicatorSpec]:
        return list(FULL_SET)

    def warmup(self) -> int:
        return 2  # the model copes with missing indicators ("n/a"); no need to wait 35 bars

    def signals(self, frame: pd.DataFrame) -> Signals:
        """No vectorised signals: an LLM decides per cycle, through `decide`."""
        return np.zeros(len(frame), dtype=np.int8)

    def wants_decision(self, ctx: DecisionContext) -> bool:
        if self.params.cadence == "interval":
            return True
        p = self.params
        why = check(
            ctx.frames,
            ctx.positions,
            self._triggers,
            move_pct=p.trigger_move_pct,
            rsi_cross=p.trigger_rsi_cross,
            ema_cross=p.trigger_ema_cross,
            sltp_pct=p.trigger_sltp_pct,
        )
        if why is None:
            self.stats["calls_saved"] += 1
            return False
        self.stats["last_trigger"] = why
        return True

    def llm_figures(self) -> LlmFigures:
        return figures(self.stats)

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
            self._provider = None

    # -- accounting ---------------------------------------------------------------------------

    def use_day(self, today: Callable[[], date]) -> None:
        """Count the daily budget by ``today`` (a backtest's simulated day)."""
        self._today = today

    def _roll_day(self) -> None:
        self.book.roll_day(self._today().isoformat())

    def restore_today(self, cost_today: Decimal) -> None:
        """Seed today's spend from the stored decisions (a restart or an edit must not reset
        the daily budget)."""
        self._roll_day()
        self.stats["cost_today"] = cost_today

    def restore_history(
        self, stored: Mapping[str, Any], recent: Sequence[DecisionRecord] = ()
    ) -> None:
        """Counts, spend and the last failure from the stored decisions (`decision_stats` and
        the newest records): a restart or an edit shows what the bot did before it."""
        self._roll_day()
        self.book.restore(stored, recent)
        self.stats["last_failure"] = self._clean_text(self.stats["last_failure"])

    def check_budget(self, bot: str) -> None:
        """Raise BudgetExceeded when today's spend reached the daily budget."""
        self._roll_day()
        budget = self.params.daily_budget_usd
        spent = self.stats["cost_today"]
        self.stats["budget_paused"] = budget > 0 and spent >= budget
        if self.stats["budget_paused"]:
            raise BudgetExceeded(
                f"bot {bot} reached its daily LLM budget (${spent:.4f} of ${budget}); it "
                "decides again after 00:00 UTC, or raise daily_budget_usd"
            )

    def parse_failure_rate(self) -> float:
        fails = sum(self.stats["parse_failures"].values())
        return fails / self.stats["decisions"] if self.stats["decisions"] else 0.0

    # -- text hygiene ---------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._redaction is not None:
            text = self._redaction.text(text)
        return self._key.blank(text, REDACTED)

    def _open_tail(self, text: str) -> int:
        own = self._key.open_tail(text)
        return max(own, self._redaction.open_tail(text) if self._redaction else 0)

    def _clean_text(self, text: Any) -> str:
        return storable(text, self._redact)

    def _clean(self, d: Decision) -> Decision:
        """The decision with every text storable and secrets blanked."""
        items = tuple(replace(i, reasoning=self._clean_text(i.reasoning)) for i in d.items)
        meta = {k: self._clean_text(v) if isinstance(v, str) else v for k, v in d.meta.items()}
        return replace(d, items=items, reasoning=self._clean_text(d.reasoning), meta=meta)

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
            self._key = SecretText([key] if key else [])
            self._provider = make_provider(
                p.provider,
                base_url=p.base_url,
                model=p.model,
                api_key=key,
                timeout_s=p.timeout_s,
                structured=p.structured,
                prefill=p.anthropic_prefill,
                backoff_base_s=self._backoff,
                redact=self._redact,
            )
            if self.provider_wrap is not None:
                self._provider = self.provider_wrap(self._provider)
        return self._provider

    def build(self, ctx: DecisionContext) -> Prompt:
        """The prompt for this cycle (public: the TUI can preview it with its token count)."""
        p = self.params
        return build_prompt(
            bot=ctx.bot,
            ts=ctx.ts,
            symbols=ctx.config.symbols,
            timeframe=ctx.config.timeframe,
            frames=ctx.frames,
            htf_frames=ctx.extra.get("htf_frames") or {},
            positions=ctx.positions,
            cash=ctx.cash,
            equity=ctx.equity,
            limits=ctx.config.risk,
            memory=ctx.memory,
            outcomes=ctx.extra.get("outcomes") or (),
            notes=ctx.extra.get("notes"),
            memory_n=p.memory,
            system_prompt=p.system_prompt,
            template=p.template,
            n_closes=p.candles,
        )

    def request(self, ctx: DecisionContext, prompt: Prompt) -> ChatRequest:
        """What is sent for ``prompt`` (public: a backtest estimates its size)."""
        return ChatRequest(
            prompt.system,
            [{"role": "user", "content": prompt.user}],
            max_tokens=self.params.max_tokens,
            temperature=self.params.temperature,
            json_schema=json_schema(list(ctx.config.symbols)),
            facts=OfflineFacts(prompt.facts, set(ctx.positions)),
        )

    async def decide(self, ctx: DecisionContext) -> Decision:
        self.check_budget(ctx.bot)  # before any network call
        started = datetime.now(UTC)
        prompt = self.build(ctx)
        symbols = list(ctx.config.symbols)
        req = self.request(ctx, prompt)
        meta: dict[str, Any] = {
            "provider": self.params.provider,
            "model": self.model,
            "prompt_hash": prompt.prompt_hash,
            "prompt": self._clean_text(prompt.text)[:CAP],
            "prompt_tokens_estimate": prompt.token_estimate,
            "raw_reply": "",
            "parsed": "null",
            "error": "",
            "tokens_in": 0,
            "tokens_out": 0,
            "cost": Decimal(0),
            "latency_ms": 0,
            "trigger": self.stats["last_trigger"],
            "flags": "",
        }
        raws: list[str] = []
        self.book.decided()
        # What is shown live is made storable too: a terminal cannot print a lone surrogate.
        emit = RedactingSink(lambda text: ctx.emit(storable(text)), self._redact, self._open_tail)
        transport = False
        try:
            parsed = await self._ask(self._get_provider(), req, ctx, meta, raws, symbols, emit)
        except BudgetExceeded:
            raise
        except Exception as e:  # noqa: BLE001 - no reply, however broken, may crash the cycle
            if isinstance(e, LLMAuthError):
                await self.aclose()  # the next cycle asks the keyring again
            transport = True
            text = (
                str(e)
                if isinstance(e, OxbotError)
                else (f"the provider's reply could not be read ({type(e).__name__}: {e})")
            )
            kind = next(
                (CALL_FAILED[c.__name__] for c in type(e).__mro__ if c.__name__ in CALL_FAILED),
                "error",
            )
            parsed = Parsed(None, text, kind)
            emit(f"\n[LLM call failed: {text}] holding\n")
        finally:
            emit.flush()
        meta["raw_reply"] = "\n--- repair ---\n".join(raws)[:CAP]
        meta["latency_ms"] = int((datetime.now(UTC) - started).total_seconds() * 1000)
        mark_decided(ctx.frames, self._triggers)
        decision = None
        if parsed.reply is not None:
            source = "offline" if self.params.provider == "offline" else "llm"
            try:
                decision = to_decision(
                    parsed.reply,
                    bot=ctx.bot,
                    ts=ctx.ts,
                    symbols=symbols,
                    positions=ctx.positions,
                    prices=prompt.prices,
                    source=source,
                    meta={**meta, "error": ""},
                )
            except Exception as e:  # noqa: BLE001 - never let a reply crash the bot
                parsed = Parsed(None, f"the decision could not be converted ({type(e).__name__})")
        if decision is None:
            error = self._clean_text(parsed.error)
            self.book.failed(
                error,
                parsed.kind,
                transport=transport,
                parse_model=None if transport else self.model,
            )
            decision = hold_decision(
                bot=ctx.bot, ts=ctx.ts, symbols=symbols, error=error, meta=meta
            )
        else:
            self.book.succeeded()
        return self._clean(decision)

    async def _ask(
        self,
        provider: Provider,
        req: ChatRequest,
        ctx: DecisionContext,
        meta: dict[str, Any],
        raws: list[str],
        symbols: list[str],
        emit: ChunkSink,
    ) -> Parsed:
        """One call, and at most one repair re-ask."""
        parsed = await self._call(provider, req, meta, raws, symbols, emit)
        if parsed.reply is not None:
            return parsed
        self.stats["repairs"] += 1
        emit(f"\n[reply unusable: {parsed.error}; asking once more]\n")
        try:
            self.check_budget(ctx.bot)
        except BudgetExceeded as e:
            return Parsed(None, f"{parsed.error}; no repair: {e}")
        repair = ChatRequest(
            req.system,
            [
                *req.messages,
                {"role": "assistant", "content": raws[-1][:4000] or "(empty)"},
                {
                    "role": "user",
                    "content": REPAIR.format(error=parsed.error[:500], symbols=", ".join(symbols)),
                },
            ],
            req.max_tokens,
            req.temperature,
            req.json_schema,
            req.facts,
        )
        second = await self._call(provider, repair, meta, raws, symbols, emit)
        if second.reply is None:
            return Parsed(None, f"after one repair: {second.error}", second.kind)
        return second

    async def _call(
        self,
        provider: Provider,
        req: ChatRequest,
        meta: dict[str, Any],
        raws: list[str],
        symbols: list[str],
        emit: ChunkSink,
    ) -> Parsed:
        try:
            comp = await provider.complete(req, emit)
        except Exception as e:
            # A call that failed after it went out is billed by the provider: charged here
            # too, so that it counts toward daily_budget_usd like any other call.
            spent = e.spent if isinstance(e, LLMError) else None
            if isinstance(spent, Spent):
                self._charge(spent, meta)
            raise
        text = self._clean_text(comp.text)
        raws.append(text)
        self._charge(comp, meta)
        meta["json_mode"] = comp.json_mode
        if not comp.complete:
            why, kind = UNFINISHED.get(
                comp.finish,
                (f"the reply ended with {comp.finish!r}, not as a finished answer", "unfinished"),
            )
            return Parsed(None, f"{why}; an unfinished reply never trades", kind)
        return parse_reply(text, symbols)

    def _charge(self, usage: Any, meta: dict[str, Any]) -> None:
        """Account one call's usage (a `Completion`, or the `Spent` of a failed call)."""
        cost = self.book.account(usage)
        meta["tokens_in"] += usage.tokens_in
        meta["tokens_out"] += usage.tokens_out
        meta["cost"] += cost
        meta["usage_estimated"] = meta.get("usage_estimated", False) or usage.usage_estimated
        if usage.usage_note:
            meta["flags"] = "; ".join(f for f in (meta["flags"], usage.usage_note) if f)
