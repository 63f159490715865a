"""Provider ids users type -> a configured provider (defaults from catalog.PROVIDERS)."""

from __future__ import annotations

from collections.abc import Callable

from .anthropic import AnthropicProvider
from .catalog import PROVIDERS
from .offline import OfflineProvider
from .openai_compat import OpenAICompatProvider
from .provider import Provider

KeyResolver = Callable[[str], str | None]


def resolved(provider: str, base_url: str, model: str) -> tuple[str, str]:
    """The base URL and model to use, defaults filled in."""
    d = PROVIDERS[provider]
    return (base_url.strip() or d.base_url).rstrip("/"), model.strip() or d.model


def make_provider(
    provider: str,
    *,
    base_url: str,
    model: str,
    api_key: str | None,
    timeout_s: float,
    structured: str = "auto",
    prefill: bool = True,
    backoff_base_s: float = 0.5,
    redact: Callable[[str], str] | None = None,
) -> Provider:
    """Build the provider; ``api_key`` comes from the keyring layer, never from config.
    ``redact`` blanks known secrets from the server's texts it quotes in errors."""
    url, name = resolved(provider, base_url, model)
    if provider == "offline":
        return OfflineProvider(name)
    if provider == "anthropic":
        return AnthropicProvider(
            provider,
            url.removesuffix("/v1"),
            name,
            api_key,
            timeout_s=timeout_s,
            prefill=prefill,
            backoff_base_s=backoff_base_s,
            redact=redact,
        )
    return OpenAICompatProvider(
        provider,
        url,
        name,
        api_key,
        timeout_s=timeout_s,
        needs_key=PROVIDERS[provider].needs_key,
        structured=structured,
        backoff_base_s=backoff_base_s,
        redact=redact,
    )
