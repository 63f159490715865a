"""Backtests of LLM bots (the CLI's and the cockpit's): the strategy built as the live runtime
builds it (app/runtime.py ``strategy_factory``: the keyring's keys, the settings' prices, known
secrets blanked), the reply cache it reads and fills, and the estimate of what the calls will
cost before any is made.

Without options (the cockpit) a paid model is never called: the run reads the cache only, and
says which decision points have no stored reply. The CLI asks first (`cli/backtest_bot.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
# Reasoning models think before they answer, and bill the thinking as output tokens (OpenAI
# https://platform.openai.com/docs/guides/reasoning "reasoning tokens ... billed as output
# tokens"; DeepSeek https://api-docs.deepseek.com/guides/reasoning_model). Their reply is
# assumed to use all of max_tokens until replies of the model are stored (then their mean).
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "deepseek-reasoner", "deepseek-r1", "qwq")
# Hosts of a local or private-network server: an unpriced model there costs nothing.
LOCAL_HOSTS = ("localhost", "127.", "10.", "192.168.", "0.0.0.0", "[::1]", "::1")


@dataclass
class LlmOptions:
    """How an LLM backtest may reach its model: ``cache_only`` never calls; ``replies`` the
    cache file (None: ``<data dir>/llm_replies.sqlite``); ``on_call`` is told after each
    decision point with the run's ``tally`` (progress with the spend)."""

    cache_only: bool = False
    replies: Path | None = None
    on_call: Any = None
    tally: Tally | None = field(default=None)
    max_cost: Decimal | None = None  # the run stops once its calls spent this (Tally.cap)


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
    stored: int  # decision points of this run whose reply is stored (free): not in usd
    reasoning: bool = False  # a reasoning model: a reply assumed to use max_tokens

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
        think = "; a reasoning model: each reply counted at max_tokens" if self.reasoning else ""
        stored = (
            f"; {self.stored:,} of them stored (free), counted: the other {self.to_call:,}"
            if self.stored
            else ""
        )
        return f"LLM {what}: {calls}, {tokens}, {cost}{stored}{think}"

    @property
    def to_call(self) -> int:
        return max(0, self.points - self.stored)


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


def is_local(url: str) -> bool:
    """A base URL on this machine or a private network (10/8, 172.16/12, 192.168/16)."""
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].lower()
    if host.startswith(LOCAL_HOSTS):
        return True
    parts = host.split(".")
    return parts[0] == "172" and len(parts) > 1 and parts[1].isdigit() and 16 <= int(parts[1]) < 32


def is_free(strategy: LLMStrategy) -> bool:
    """A free provider (ollama, offline), or an openai_compatible server on this machine or a
    private network serving an unpriced model (vLLM, llama.cpp, LM Studio: README "local
    OpenAI-compatible servers cost nothing"). A priced model there, or a named provider (openai,
    openrouter...) at a local URL, stays paid: it may be a proxy to the paid service."""
    from oxbot.engine.llm.catalog import FREE_PROVIDERS  # noqa: PLC0415

    p = strategy.params
    if p.provider in FREE_PROVIDERS:
        return True
    return p.provider == "openai_compatible" and strategy.price is None and is_local(p.base_url)


def check_key(config: Any) -> None:
    """ConfigError before any call when the bot's provider needs an API key and none is
    stored (as a live bot is refused at start, app/runtime.py): a run would otherwise hold at
    every decision point and end as "0 trades". A keyring that cannot answer: SecretsError."""
    from oxbot.app.runtime import missing_keys_text  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.llm.catalog import PROVIDERS  # noqa: PLC0415
    from oxbot.storage.secrets import key_resolver  # noqa: PLC0415

    provider = str({**config.params, **config.llm}.get("provider") or "offline")
    info = PROVIDERS.get(provider)
    if info is None or not info.needs_key:
        return
    if not key_resolver()(provider):
        missing = [(f"an API key for {provider}", provider, ("api_key",))]
        raise ConfigError(missing_keys_text(config.name, missing))


def is_reasoning(model: str) -> bool:
    name = model.strip().lower().rsplit("/", 1)[-1]
    return name.startswith(REASONING_PREFIXES)


def estimate(
    config: Any,
    frames: dict[str, pd.DataFrame],
    since_ms: int | None = None,
    until_ms: int | None = None,
    replies: Path | None = None,
    cash: Decimal | None = None,
) -> Estimate:
    """Calls, tokens and dollars of an LLM backtest before it runs: the decision points of
    the bot's cadence over the range whose reply is not stored yet (`stored_points`), times
    the first decision point's prompt (built by the live prompt builder, with its memory and a
    position line allowed for) and a reply's expected size (the stored replies' mean, else
    max_tokens for a reasoning model, else ``REPLY_TOKENS_*``)."""
    from oxbot.engine.backtest.llmrun import MEMORY, decision_points, first_request  # noqa: PLC0415
    from oxbot.engine.backtest.replies import ReplyCache  # noqa: PLC0415
    from oxbot.engine.llm.pricing import cost_usd  # noqa: PLC0415
    from oxbot.engine.llm.usage import estimate_tokens, request_text  # noqa: PLC0415

    strat = llm_strategy(config)
    p = strat.params
    points = decision_points(config, strat, frames, since_ms, until_ms)
    cache = ReplyCache(replies_path(replies), read_only=True)
    try:
        mean_out = cache.mean_tokens_out(p.provider, strat.model)
        stored = 0
        if p.provider != "offline" and points:
            stored = stored_points(config, frames, since_ms, until_ms, cache, cash)
    finally:
        cache.close()
    n_sym = len(config.symbols)
    req = first_request(config, strat, frames, since_ms, until_ms)
    per_in = 0
    if req is not None:
        if p.provider == "anthropic":  # the schema is not sent (no JSON mode), only hashed
            req = replace(req, json_schema=None)
        shown = min(p.memory, MEMORY)  # the bot keeps MEMORY records: no more are shown
        per_in = estimate_tokens(request_text(req)) + MEMORY_LINE_TOKENS * (shown + n_sym)
    reasoning = mean_out is None and is_reasoning(strat.model)
    if mean_out is not None:
        per_out = round(mean_out)
    elif reasoning:
        per_out = p.max_tokens
    else:
        per_out = REPLY_TOKENS_BASE + REPLY_TOKENS_PER_SYMBOL * n_sym
    calls = max(0, len(points) - stored)
    tin, tout = per_in * calls, per_out * calls
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
        reasoning=reasoning,
    )


class _FirstMiss(Exception):
    """Raised out of the replay of `stored_points` at the first decision point with no reply."""


def stored_points(
    config: Any,
    frames: dict[str, pd.DataFrame],
    since_ms: int | None,
    until_ms: int | None,
    cache: Any,
    cash: Decimal | None = None,
) -> int:
    """How many decision points of the run replay from ``cache`` before the first one with no
    stored reply: the run's own path, replayed cache-only (no call, no I/O) up to that point.
    A later point's prompt depends on the replies before it, so the points after the first
    miss are counted as calls. 0 when nothing of the model is stored."""
    from oxbot.engine.backtest.botrun import run_bot  # noqa: PLC0415
    from oxbot.engine.backtest.llmrun import LlmReplay  # noqa: PLC0415
    from oxbot.engine.backtest.replies import Tally  # noqa: PLC0415

    strat = llm_strategy(config, keys=False)
    if cache.count(strat.params.provider, strat.model) == 0:
        return 0
    answered = 0

    def on_call(tally: Tally) -> None:
        nonlocal answered
        if tally.missed:
            raise _FirstMiss
        answered += 1

    replay = LlmReplay(cache, True, Tally(), on_call)
    try:
        run_bot(config, strat, frames, cash=cash, since_ms=since_ms, until_ms=until_ms, llm=replay)
    except _FirstMiss:
        pass
    return answered


def prepared(config: Any, options: LlmOptions | None) -> tuple[LLMStrategy, Any]:
    """The strategy and the engine's `LlmReplay` for a run, its cache opened. Without options
    (the cockpit) a paid model is never called: cache only, unless the provider is free (local
    or offline)."""
    from oxbot.engine.backtest.llmrun import LlmReplay  # noqa: PLC0415
    from oxbot.engine.backtest.replies import ReplyCache, Tally  # noqa: PLC0415
    from oxbot.engine.llm.catalog import PROVIDERS  # noqa: PLC0415

    strategy = llm_strategy(config, keys=False)
    opts = options if options is not None else LlmOptions(cache_only=not is_free(strategy))
    if not opts.cache_only:
        strategy = llm_strategy(config)
    if opts.tally is None:
        opts.tally = Tally()
    opts.tally.cap = opts.max_cost
    opts.tally.server = strategy.params.base_url or PROVIDERS[strategy.params.provider].base_url
    opts.tally.priced = strategy.price is not None or is_free(strategy)
    cache = ReplyCache(replies_path(opts.replies), read_only=opts.cache_only)
    return strategy, LlmReplay(cache, opts.cache_only, opts.tally, opts.on_call)


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
    if is_free(llm_strategy(config, keys=False)):  # a local model: nothing to pay for
        raise UsageError(
            f"{len(missing):,} of {result.llm_points:,} decision points of bot {config.name} "
            f"have no stored reply (first at {first}{more} UTC) and --cache-only called no "
            "model; the model is free (local): drop --cache-only to call it"
        )
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
            failure_kinds=dict(tally.failure_kinds),
            last_failure=tally.last_failure,
            not_stored=tally.unfinished,
            usage_estimated=tally.estimated,
            server=tally.server,
            priced=tally.priced,
        )
    return out


def all_failed(metrics: dict[str, Any]) -> str | None:
    """The reason when every decision point of a run failed (held): no trade was ever the
    model's, so the report is no result of the model's (None otherwise)."""
    points, failures = metrics.get("decision_points", 0), metrics.get("failures", 0)
    if not points or failures < points:
        return None
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(metrics.get("failure_kinds", {}).items()))
    why = metrics.get("last_failure") or "no reply could be used"
    return (
        f"every one of the {points:,} decisions of the model failed (held)"
        + (f" [{kinds}]" if kinds else "")
        + f"; the last: {why}"
    )


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
