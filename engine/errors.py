"""oxbot's error hierarchy. SDK errors (ccxt, httpx) are translated into these at the boundary."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # engine/llm imports this module
    from .llm.usage import Spent


class OxbotError(Exception):
    """Base of every error oxbot raises on purpose; its text is fit to show a user."""


class UsageError(OxbotError):
    """Bad input from the user: a parameter, a file, a name. The CLI exits 2."""


class ConfigError(UsageError):
    """A bot configuration or setting is invalid."""


class DataError(UsageError):
    """Market data (a CSV file, a download) is missing or malformed."""


class StrategyError(OxbotError):
    """A strategy's own code failed or broke its contract (signals of the wrong length or
    values, an exception in signals/indicators/warmup); the text names its file:line."""


class StrategyExit(StrategyError):
    """A user's strategy raised SystemExit (or another BaseException that would end the
    process): turned into this by engine/strategies/loader.py. It would fail every cycle the
    same way, so the bot stops at once instead of retrying."""


class StorageError(OxbotError):
    """The database cannot be used (locked by another engine, newer schema, corrupt)."""


class DatabaseLocked(StorageError):
    pass


class SchemaTooNew(StorageError):
    pass


class LeaseLost(StorageError):
    """A bot's ledger write refused: another engine took the bot over (its lease, PostgreSQL
    only: storage/leases.py). Nothing of the write was stored; this engine must stop the bot."""

    def __init__(self, message: str, bot: str, owner: str) -> None:
        super().__init__(message)
        self.bot = bot
        self.owner = owner  # the name of the engine that holds the bot now ('' if none)


class ExchangeError(OxbotError):
    """Base of exchange errors."""


class TemporaryError(ExchangeError):
    """Worth retrying (network, timeout, exchange unavailable)."""


class RateLimited(TemporaryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(ExchangeError):
    pass


class InsufficientFunds(ExchangeError):
    pass


class InvalidOrder(ExchangeError):
    pass


class OrderNotFound(ExchangeError):
    pass


class NotSupported(ExchangeError):
    pass


class BadSymbol(ExchangeError, UsageError):
    pass


class CircuitOpen(TemporaryError):
    """The exchange's circuit breaker is open; calls are refused until it probes again."""


class LLMError(OxbotError):
    # What the failed call cost: a call that failed after it went out is billed by the
    # provider, and counts toward the daily budget (engine/llm/provider.py sets it).
    spent: Spent | None = None


class SecretsError(OxbotError):
    """The keyring cannot be used; the text names the fixes."""


class BudgetExceeded(LLMError):
    """A bot's daily LLM budget is spent; the engine pauses the bot with a notice."""
