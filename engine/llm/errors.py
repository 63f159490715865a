"""LLM error kinds, all `oxbot.engine.errors.LLMError`, so callers can catch one base.

Texts are fit to show a user: they say what was attempted and how to fix it, and never carry
an API key (response bodies are scrubbed before they are quoted).
"""

from __future__ import annotations

from ..errors import LLMError


class LLMAuthError(LLMError):
    """The provider refused the key (401/403) or no key is set. Not retried."""


class LLMBadRequest(LLMError):
    """The provider rejected the request (4xx other than 401/403/429). Not retried.
    ``status`` is the HTTP status, ``param`` the request parameter the server blamed."""

    status: int = 0
    param: str = ""


class LLMRateLimited(LLMError):
    """429 after the retries ran out (or Retry-After asks for longer than the deadline)."""


class LLMUnavailable(LLMError):
    """5xx or a network failure after the retries ran out."""


class LLMTimeout(LLMError):
    """No complete reply within the total deadline (a stalled stream ends here)."""


class LLMBadResponse(LLMError):
    """The provider answered with something that is not a completion (bad SSE, error event)."""
