"""LLM-driven decisions: providers (OpenAI-compatible, Anthropic, offline rules), the prompt,
the decision schema and its robust parser, and `LLMStrategy` that ties them together.
"""

from __future__ import annotations

# The strategy registry registers LLMStrategy when it loads, and LLMStrategy imports the
# registry's base module: load the registry first, whichever of the two is imported first.
from .. import strategies as _strategies  # noqa: F401  (isort: skip)
from .catalog import PROVIDERS
from .decision import DecisionReply, SymbolCall, parse_decision, parse_reply
from .errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMBadResponse,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from .factory import make_provider
from .pricing import DEFAULT_PRICES
from .prompt import build_prompt
from .strategy import LLMParams, LLMStrategy

__all__ = [
    "DEFAULT_PRICES",
    "PROVIDERS",
    "DecisionReply",
    "LLMAuthError",
    "LLMBadRequest",
    "LLMBadResponse",
    "LLMParams",
    "LLMRateLimited",
    "LLMStrategy",
    "LLMTimeout",
    "LLMUnavailable",
    "SymbolCall",
    "build_prompt",
    "make_provider",
    "parse_decision",
    "parse_reply",
]
