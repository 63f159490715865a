"""Provider ids users type -> a configured provider (default base URL, model, key need)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .anthropic import AnthropicProvider
from .offline import OfflineProvider
from .openai_compat import OpenAICompatProvider
from .provider import Provider

KeyResolver = Callable[[str], str | None]


@dataclass(frozen=True)
class ProviderDefaults:
    base_url: str
    model: str
    needs_key: bool


PROVIDERS: dict[str, ProviderDefaults] = {
    "openai": ProviderDefaults("https://api.openai.com/v1", "gpt-4o-mini", True),
    "anthropic": ProviderDefaults("https://api.anthropic.com", "claude-haiku-4-5", True),
    "deepseek": ProviderDefaults("https://api.deepseek.com/v1", "deepseek-chat", True),
    "qwen": ProviderDefaults("https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                             "qwen-plus", True),
    "openrouter": ProviderDefaults("https://openrouter.ai/api/v1", "openai/gpt-4o-mini", True),
    "ollama": ProviderDefaults("http://127.0.0.1:11434/v1", "llama3.1", False),
    # vLLM, LM Studio, llama.cpp server, any proxy: base_url and model are required.
    "openai_compatible": ProviderDefaults("", "", False),
    "offline": ProviderDefaults("", "offline-rules", False),
}


def resolved(provider: str, base_url: str, model: str) -> tuple[str, str]:
    """The base URL and model to use, defaults filled in."""
    d = PROVIDERS[provider]
    return (base_url.strip() or d.base_url).rstrip("/"), model.strip() or d.model


def make_provider(provider: str, *, base_url: str, model: str, api_key: str | None,
                  timeout_s: float, structured: str = "auto", prefill: bool = True,
                  backoff_base_s: float = 0.5,
                  redact: Callable[[str], str] | None = None) -> Provider:
    """Build the provider; ``api_key`` comes from the keyring layer, never from config.
    ``redact`` blanks known secrets from the server's texts it quotes in errors."""
    url, name = resolved(provider, base_url, model)
    if provider == "offline":
        return OfflineProvider(name)
    if provider == "anthropic":
        return AnthropicProvider(provider, url.removesuffix("/v1"), name, api_key,
                                 timeout_s=timeout_s, prefill=prefill,
                                 backoff_base_s=backoff_base_s, redact=redact)
    return OpenAICompatProvider(provider, url, name, api_key, timeout_s=timeout_s,
                                needs_key=PROVIDERS[provider].needs_key, structured=structured,
                                backoff_base_s=backoff_base_s, redact=redact)
