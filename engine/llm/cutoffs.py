"""Known models' training-data cut-offs, for the LLM backtest's look-ahead warning: a model
whose training data reaches into the backtest period may have seen those prices.

Each entry says where it was read. A model id matches the longest key it starts with
(``gpt-4o-2024-08-06`` -> ``gpt-4o``), compared in lower case, also without a ``provider/``
prefix (``openai/gpt-4o``). A cut-off given as a month counts to that month's end (the
conservative reading: the warning shows for a backtest starting anywhere in that month). Only
models with a source found are listed; any other is "cut-off unknown" (no DeepSeek or Qwen
model card read stated one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Cutoff:
    year: int
    month: int
    source: str  # where it was read

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def end_ms(self) -> int:
        """The first instant after the cut-off month (UTC), in epoch ms."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


_OPENAI_4O_MINI = (
    "OpenAI model page platform.openai.com/docs/models/gpt-4o-mini, 'Oct 01, 2023 knowledge "
    "cutoff' (read via https://mdsite.deno.dev/https://platform.openai.com/docs/models/gpt-4o-mini)"
)
_OPENAI_4O = (
    "OpenAI model card platform.openai.com/docs/models/gpt-4o 'Training data: Up to Oct 2023', "
    "as quoted in https://gitlab.com/gitlab-org/modelops/ai-model-validation-and-research/"
    "ai-evaluation/prompt-library/-/issues/297"
)
_OPENAI_41 = (
    "GPT-4.1 family (4.1, mini, nano) knowledge cutoff June 2024: "
    "https://vercel.com/ai-gateway/models/gpt-4.1/faq and https://aiwiki.ai/wiki/gpt-4_1 "
    "(citing OpenAI's GPT-4.1 announcement)"
)
_CLAUDE_3 = (
    "Anthropic models table 'Training data cut-off': Claude 3.5 Sonnet (20240620) Apr 2024, "
    "Claude 3 Opus / Sonnet / Haiku Aug 2023 (copied in github.com/aisudoapp, Anthropic "
    "integration doc of 7 August 2024)"
)
_CLAUDE_4 = (
    "Anthropic's model comparison table of 22 May 2025: training cut-off March 2025 for Claude "
    "Opus 4 and Sonnet 4 (https://feeds.simonwillison.net/2025/May/22/updated-anthropic-models)"
)
_LLAMA_3 = (
    "Meta Llama 3 model card 'Data Freshness': March 2023 for the 8B, December 2023 for the 70B "
    "(https://huggingface.co/Undi95/Meta-Llama-3-8B-hf/commit/"
    "78fb9e22c486cec013a2109bd0bdddc6925369bb; "
    "https://huggingface.co/meta-llama/Meta-Llama-3-70B-Instruct/discussions/7)"
)
_NEMO = (
    "Mistral-NeMo-12B-Instruct model card 'Data Freshness': April 2024 "
    "(https://huggingface.co/nvidia/Mistral-NeMo-12B-Instruct/commit/"
    "d776f0fa6af3e9abd1de92b8a17cfbee7b072e46)"
)

CUTOFFS: dict[str, Cutoff] = {
    "gpt-4o-mini": Cutoff(2023, 10, _OPENAI_4O_MINI),
    "gpt-4o": Cutoff(2023, 10, _OPENAI_4O),
    "gpt-4.1": Cutoff(2024, 6, _OPENAI_41),
    "claude-3-5-sonnet-20240620": Cutoff(2024, 4, _CLAUDE_3),
    "claude-3-opus": Cutoff(2023, 8, _CLAUDE_3),
    "claude-3-sonnet": Cutoff(2023, 8, _CLAUDE_3),
    "claude-3-haiku": Cutoff(2023, 8, _CLAUDE_3),
    "claude-opus-4-20250514": Cutoff(2025, 3, _CLAUDE_4),
    "claude-sonnet-4-20250514": Cutoff(2025, 3, _CLAUDE_4),
    "llama3:8b": Cutoff(2023, 3, _LLAMA_3),
    "meta-llama-3-8b": Cutoff(2023, 3, _LLAMA_3),
    "llama3:70b": Cutoff(2023, 12, _LLAMA_3),
    "meta-llama-3-70b": Cutoff(2023, 12, _LLAMA_3),
    "mistral-nemo": Cutoff(2024, 4, _NEMO),
}


def cutoff(model: str) -> Cutoff | None:
    """The training-data cut-off of ``model`` (an id as the provider takes it), or None."""
    m = model.strip().lower()
    for name in (m, m.rsplit("/", 1)[-1]):
        keys = [k for k in CUTOFFS if name.startswith(k)]
        if keys:
            return CUTOFFS[max(keys, key=len)]
    return None


def look_ahead(model: str, start_ms: int | None) -> tuple[str, bool]:
    """The report's line about ``model``'s knowledge cut-off and whether it warns: the
    backtest period (starting at ``start_ms``) begins before the cut-off's end."""
    c = cutoff(model)
    if c is None:
        return f"model {model or '?'}: knowledge cut-off unknown", False
    head = f"model {model}: knowledge cut-off {c.label}"
    if start_ms is not None and start_ms < c.end_ms:
        start = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d")
        return (
            f"WARNING: {head}, after the backtest starts ({start}): "
            "the model may have seen these prices",
            True,
        )
    return head + ", before the backtest period", False


__all__ = ["CUTOFFS", "Cutoff", "cutoff", "look_ahead"]
