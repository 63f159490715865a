"""Backtests of LLM bots (the CLI's and the cockpit's): the strategy built as the live runtime
builds it (app/runtime.py ``strategy_factory``: the keyring's keys, the settings' prices, known
secrets blanked), the reply cache it reads and fills, and the estimate of what the calls will
cost before any is made.

Without options (the cockpit) a paid model is never called: the run reads the cache only, and
says which decision points have no stored reply. The CLI asks first (`cli/backtest_bot.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oxbot.engine.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from oxbot.engine.backtest.replies import Tally
    from oxbot.engine.llm.strategy import LLMStrategy

# What a reply is assumed to cost before any is stored for the model (then their mean is used):
# the format asked for (engine/llm/prompt.py FORMAT) is an analysis of 2-4 sentences (about 40
# tokens at 4 characters a token, usage.estimate_tokens) and one entry per symbol with its
# one-sentence reasoning (about 45 tokens).
REPLY_TOKENS_BASE = 40
REPLY_TOKENS_PER_SYMBOL = 45
# The memory block grows to ``memory`` lines ("12m ago: BTC/USDT:buy -> approved"), and a held
# position adds a line to the account block: about this many tokens a line.
MEMORY_LINE_TOKENS = 12
MISSING_SHOWN = 5  # first timestamps named when replies are missing


@dataclass
class LlmOptions:
    """How an LLM backtest may reach its model: ``cache_only`` never calls; ``replies`` the
    cache file (None: ``<data dir>/llm_replies.sqlite``); ``on_call`` is told after each
    decision point with the run's ``tally`` (progress with the spend)."""

    cache_only: bool = False
    replies: Path | None = None
    on_call: Any = None
    tally: Tally | None = field(default=None)


@dataclass(frozen=True)
class Estimate:
    """Before a run: decision points (an upper bound with the trigger cadence), tokens and
    dollars at the model's prices; ``free`` for a local or offline provider; ``stored``: replies
    already in the cache for this provider and model."""

    provider: str
    model: str
    points: int
    at_most: bool  # the trigger cadence calls on fewer points
    tokens_in: int
    tokens_out: int
    usd: Decimal
    free: bool
    priced: bool
    stored: int

    def line(self) -> str:
        what = f"{self.provider} {self.model}"
        calls = f"{'at most ' if self.at_most else ''}{self.points:,} model calls"
        if self.provider == "offline":
            return f"LLM {what}: {calls}, offline rules (no model, free)"
        tokens = f"~{self.tokens_in:,} tokens in, ~{self.tokens_out:,} out"
        if self.free:
            cost = "free (local model)"
        elif not self.priced:
            cost = f"price of {self.model} unknown (give it in the bot's prices param)"
        else:
            cost = f"~${self.usd:.4f}"
        stored = f"; {self.stored:,} replies of this model already stored" if self.stored else ""
        return f"LLM {what}: {calls}, {tokens}, {cost}{stored}"


def replies_path(given: Path | None = None) -> Path:
    from oxbot.engine.backtest.replies import FILE_NAME  # noqa: PLC0415
    from oxbot.storage.paths import data_dir  # noqa: PLC0415

    return given if given is not None else data_dir() / FILE_NAME


def llm_strategy(config: Any, keys: bool = True) -> LLMStrategy:
    """The bot's LLM strategy as the live runtime builds it; without ``keys`` it asks the
    keyring for none (a cache-only run calls no model: a missing or locked keyring must not
    turn its replays into failed calls)."""
    from oxbot.engine.llm.strategy import LLMStrategy, Redaction  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415
    from oxbot.storage.redact import open_tail, redact  # noqa: PLC0415
    from oxbot.storage.secrets import key_resolver  # noqa: PLC0415
    from oxbot.storage.settings import load_settings  # noqa: PLC0415

    settings, _warnings = load_settings()
    base = build_strategy("llm", {**config.params, **config.llm})
    return LLMStrategy(
        base.params,
        key_resolver=key_resolver() if keys else (lambda _provider: None),
        price_table=dict(settings.llm_prices) if settings.llm_prices else None,
        redaction=Redaction(redact, open_tail),
    )


def is_free(strategy: LLMStrategy) -> bool:
    from oxbot.engine.llm.catalog import FREE_PROVIDERS  # noqa: PLC0415

    return strategy.params.provider in FREE_PROVIDERS


def estimate(
    config: Any,
    frames: dict[str, pd.DataFrame],
    since_ms: int | None = None,
    until_ms: int | None = None,
    replies: Path | None = None,
) -> Estimate:
    """Calls, tokens and dollars of an LLM backtest before it runs: the decision points of
    the bot's cadence over the range, times the first decision point's prompt (built by the
    live prompt builder, with its memory and a position line allowed for) and a reply's
    expected size (the stored replies' mean, else ``REPLY_TOKENS_*``)."""
    from oxbot.engine.backtest.llmrun import decision_points, first_request  # noqa: PLC0415
    from oxbot.engine.backtest.replies import ReplyCache  # noqa: PLC0415
    from oxbot.engine.llm.pricing import cost_usd  # noqa: PLC0415
    from oxbot.engine.llm.usage import estimate_tokens, request_text  # noqa: PLC0415

    strat = llm_strategy(config)
    p = strat.params
    points = decision_points(config, strat, frames, since_ms, until_ms)
    cache = ReplyCache(replies_path(replies))
    try:
        stored = cache.count(p.provider, strat.model)
        mean_out = cache.mean_tokens_out(p.provider, strat.model)
    finally:
        cache.close()
    n_sym = len(config.symbols)
    req = first_request(config, strat, frames, since_ms, until_ms)
    per_in = 0
    if req is not None:
        per_in = estimate_tokens(request_text(req)) + MEMORY_LINE_TOKENS * (p.memory + n_sym)
    per_out = (
        round(mean_out)
        if mean_out is not None
        else REPLY_TOKENS_BASE + REPLY_TOKENS_PER_SYMBOL * n_sym
    )
    tin, tout = per_in * len(points), per_out * len(points)
    if p.provider == "offline":
        tin = tout = 0
    return Estimate(
        provider=p.provider,
        model=strat.model,
        points=len(points),
        at_most=p.cadence == "trigger",
        tokens_in=tin,
        tokens_out=tout,
        usd=cost_usd(strat.price, tin, tout),
        free=is_free(strat),
        priced=strat.price is not None,
        stored=stored,
    )


def prepared(config: Any, options: LlmOptions | None) -> tuple[LLMStrategy, Any]:
    """The strategy and the engine's `LlmReplay` for a run, its cache opened. Without options
    (the cockpit) a paid model is never called: cache only, unless the provider is free (local
    or offline)."""
    from oxbot.engine.backtest.llmrun import LlmReplay  # noqa: PLC0415
    from oxbot.engine.backtest.replies import ReplyCache, Tally  # noqa: PLC0415

    strategy = llm_strategy(config, keys=False)
    opts = options if options is not None else LlmOptions(cache_only=not is_free(strategy))
    if not opts.cache_only:
        strategy = llm_strategy(config)
    if opts.tally is None:
        opts.tally = Tally()
    return strategy, LlmReplay(
        ReplyCache(replies_path(opts.replies)), opts.cache_only, opts.tally, opts.on_call
    )


def check_complete(result: Any, config: Any) -> None:
    """UsageError when a cache-only run met decision points with no stored reply: how many,
    the first ones, and how to fill them. Every decision after the first missing one may differ
    from the run that has it (its prompt shows what that reply did)."""
    from oxbot.app.backtests import utc  # noqa: PLC0415

    missing = result.llm_missing
    if not missing:
        return
    first = ", ".join(utc(t) for t in missing[:MISSING_SHOWN])
    more = f" and {len(missing) - MISSING_SHOWN:,} more" if len(missing) > MISSING_SHOWN else ""
    raise UsageError(
        f"{len(missing):,} of {result.llm_points:,} decision points of bot {config.name} have no "
        f"stored reply (first at {first}{more} UTC) and the model was not called (--cache-only, "
        "or a paid model without --yes or --max-cost USD); call it with --yes or --max-cost "
        "USD (the estimate is shown first); the decisions after the first missing one depend "
        "on its reply"
    )


def summary(result: Any, tally: Tally | None) -> dict[str, Any]:
    """The LLM part of a bot backtest's metrics: calls made now, replies read from the cache,
    tokens and dollars spent now, and what the model's replies cost when recorded."""
    s = result.llm_stats
    out: dict[str, Any] = {
        "provider": s.get("provider", ""),
        "model": s.get("model", ""),
        "decision_points": result.llm_points,
        "calls_saved": s.get("calls_saved", 0),
        "failures": s.get("failures", 0),
        "recorded_cost": f"{s.get('cost_total', Decimal(0))}",
        "tokens_in": s.get("tokens_in_total", 0),
        "tokens_out": s.get("tokens_out_total", 0),
    }
    out["cutoff"] = cutoff_summary(out["model"], int(result.ts[0]) if len(result.ts) else None)
    if tally is not None:
        out.update(
            calls=tally.calls,
            cached=tally.hits,
            spent=f"{tally.spent}",
            spent_tokens_in=tally.tokens_in,
            spent_tokens_out=tally.tokens_out,
        )
    return out


def cutoff_summary(model: str, start_ms: int | None) -> dict[str, Any]:
    """What the report says of the model's knowledge cut-off (engine/llm/cutoffs.py): the
    line, whether it warns (the period starts before the cut-off), the cut-off and its source."""
    from oxbot.engine.llm.cutoffs import cutoff, look_ahead  # noqa: PLC0415

    line, warning = look_ahead(model, start_ms)
    known = cutoff(model)
    return {
        "text": line,
        "warning": warning,
        "cutoff": known.label if known else None,
        "source": known.source if known else None,
    }
