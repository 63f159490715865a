"""Token usage: the provider-neutral estimate, the check of the figures a server reports, and
what a call that failed after it was sent is charged (`Spent`).

A budget must never be defeated by a server's figures (-5,000,000 tokens once made a call cost
-$15) nor by a call that fails: providers bill the prompt they read and the tokens they
generated before a stream broke off or was cut by our deadline, whether or not a finished
reply arrived. Such a call is charged what the server reported (Anthropic's ``message_start``
gives ``input_tokens`` before any text, an OpenAI usage chunk may have come), else an estimate
from the prompt and the text received so far, and flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .provider import ChatRequest

# Bounds of a believable usage figure. Byte-level BPE tokenisers never make more tokens than
# the text has UTF-8 bytes (plus a chat template's special tokens); no tokeniser puts 32
# characters of ordinary text in one token. A completion also cannot exceed max_tokens.
TEMPLATE_TOKENS = 256
CHARS_PER_TOKEN_MAX = 32


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate: about 4 characters per token for English and JSON."""
    return tokens_for(len(text))


def tokens_for(chars: int) -> int:
    """The estimate for a text of ``chars`` characters."""
    return max(1, (chars + 3) // 4) if chars > 0 else 0


def request_text(req: ChatRequest) -> str:
    """Everything of ``req`` the model reads: system, messages and the JSON schema."""
    schema = json.dumps(req.json_schema) if req.json_schema is not None else ""
    return req.system + "".join(str(m.get("content", "")) for m in req.messages) + schema


def _problem(name: str, value: Any, chars: int, upper: int) -> str:
    """Why ``value`` is not a believable token count for ``chars`` characters ("" if it is)."""
    if value is None:
        return f"no {name} tokens"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} tokens {str(value)[:20]!r} is not a whole number"
    if value < 0 or value > upper:
        return f"{name} tokens {value} is outside 0-{upper}"
    if value < chars // CHARS_PER_TOKEN_MAX:
        return f"{name} tokens {value} is too few for {chars} characters"
    return ""


def _checks(
    reported_in: Any, reported_out: Any, req: ChatRequest, out_chars: int, out_bytes: int
) -> tuple[str, str, int, int]:
    prompt = request_text(req)
    p_in = _problem(
        "prompt", reported_in, len(prompt), len(prompt.encode("utf-8", "replace")) + TEMPLATE_TOKENS
    )
    p_out = _problem(
        "completion", reported_out, out_chars, max(req.max_tokens, out_bytes) + TEMPLATE_TOKENS
    )
    return p_in, p_out, estimate_tokens(prompt), tokens_for(out_chars)


def checked_usage(
    reported_in: Any, reported_out: Any, req: ChatRequest, out_chars: int, out_bytes: int
) -> tuple[int, int, str]:
    """(tokens_in, tokens_out, note) of a finished reply of ``out_chars`` characters
    (``out_bytes`` in UTF-8; answer and reasoning): the server's figures when both are
    believable, else an estimate from the texts and a note saying why."""
    p_in, p_out, est_in, est_out = _checks(reported_in, reported_out, req, out_chars, out_bytes)
    problems = [p for p in (p_in, p_out) if p]
    if not problems:
        return reported_in, reported_out, ""
    missing = all(p.startswith("no ") for p in problems)
    note = (
        "usage estimated: the server sent none"
        if missing
        else "usage estimated: the server's figures were implausible (" + "; ".join(problems) + ")"
    )
    return est_in, est_out, note


@dataclass(frozen=True)
class Spent:
    """What a call that failed after it was sent is charged; ``usage_note`` says how it was
    counted (it goes into the decision's flags)."""

    tokens_in: int
    tokens_out: int
    usage_note: str
    usage_estimated: bool

    def __add__(self, other: Spent) -> Spent:
        notes = [n for n in (self.usage_note, other.usage_note) if n]
        return Spent(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            "; ".join(dict.fromkeys(notes)),
            self.usage_estimated or other.usage_estimated,
        )


def failed_usage(
    reported_in: Any, reported_out: Any, req: ChatRequest, out_chars: int, out_bytes: int
) -> Spent:
    """The charge of a call that failed after ``out_chars`` characters arrived: each figure
    the server reported, when believable, else its estimate."""
    p_in, p_out, est_in, est_out = _checks(reported_in, reported_out, req, out_chars, out_bytes)
    tokens_in = est_in if p_in else reported_in
    tokens_out = est_out if p_out else reported_out
    if p_in or p_out:
        note = (
            "charged for a failed call: usage estimated from the prompt and the "
            f"{out_chars:,} characters received"
        )
        if not (p_in and p_out):
            note += " (the server reported the " + ("completion" if p_in else "prompt") + ")"
    else:
        note = "charged for a failed call: usage as the server reported it"
    return Spent(tokens_in, tokens_out, note, bool(p_in or p_out))
