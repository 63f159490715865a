"""The LLM providers oxbot can use: one table, read by the provider factory, the strategy's
parameters, the key store (which providers take a key) and the composition root (which bots
need one). Add a provider here, then teach ``factory.make_provider`` to build it.

Pure data: importing it costs nothing beyond the package's own ``__init__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """``base_url`` and ``model`` are the defaults when a bot leaves them empty; ``needs_key``:
    a call is refused without an API key; ``takes_key``: a key can be stored for it (`oxbot keys
    set`); ``free``: no per-token price to know (local, or not a model), so a daily budget
    needs no price."""

    base_url: str
    model: str
    needs_key: bool
    takes_key: bool = True
    free: bool = False


# What a bot's ``provider`` parameter accepts; tests/llm/test_llm_providers.py checks it names
# exactly the table's keys.
ProviderName = Literal[
    "openai",
    "anthropic",
    "openai_compatible",
    "deepseek",
    "qwen",
    "openrouter",
    "ollama",
    "offline",
]

# In the order users read them (errors, help).
PROVIDERS: dict[str, ProviderInfo] = {
    "openai": ProviderInfo("https://api.openai.com/v1", "gpt-4o-mini", True),
    "anthropic": ProviderInfo("https://api.anthropic.com", "claude-haiku-4-5", True),
    # vLLM, LM Studio, llama.cpp server, any proxy: base_url and model are required; a key is
    # sent when one is stored.
    "openai_compatible": ProviderInfo("", "", False),
    "deepseek": ProviderInfo("https://api.deepseek.com/v1", "deepseek-chat", True),
    "qwen": ProviderInfo(
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen-plus", True
    ),
    "openrouter": ProviderInfo("https://openrouter.ai/api/v1", "openai/gpt-4o-mini", True),
    "ollama": ProviderInfo(
        "http://127.0.0.1:11434/v1", "llama3.1", False, takes_key=False, free=True
    ),
    "offline": ProviderInfo("", "offline-rules", False, takes_key=False, free=True),
}
FREE_PROVIDERS: tuple[str, ...] = tuple(n for n, p in PROVIDERS.items() if p.free)

# Names `oxbot keys` has always accepted for an LLM key although no bot provider reads them (a
# bot reaches these services as openai_compatible): kept so that keys stored under them can still
# be set, listed, checked and deleted. Keyless ones store nothing but are not "unknown".
OTHER_KEY_NAMES: tuple[str, ...] = (
    "google",
    "mistral",
    "groq",
    "xai",
    "moonshot",
    "together",
    "fireworks",
)
OTHER_KEYLESS_NAMES: tuple[str, ...] = ("lmstudio",)
