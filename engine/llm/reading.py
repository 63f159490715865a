"""One attempt of a call as it happens: whether the request went out, the HTTP status, the
reply's text as it streams in (bounded), and the usage the server reported so far.

Bounds (hostile or broken servers must cost bounded memory and time): the answer is refused
past `MAX_REPLY_CHARS`; reasoning (``reasoning_content``, Anthropic ``thinking``) and refusal
text are kept and shown up to `MAX_REASONING_CHARS` and only counted beyond; the read stops
when everything received passes `MAX_TOTAL_CHARS` (32 MB of reasoning were once read whole).

What a failed attempt costs (`spent`): nothing when the request never went out whole or the
server refused it (an HTTP error status or an error body instead of a reply: nothing was
generated); otherwise the usage reported, else an estimate (`usage.failed_usage`).
"""

from __future__ import annotations

from typing import Any

from .errors import LLMBadResponse
from .extract import MAX_REPLY_CHARS
from .usage import Spent, checked_usage, failed_usage

MAX_REASONING_CHARS = 60_000
# Everything a reply may carry in all: a reasoning model at our max_tokens ceiling (32,000
# tokens, ~4 characters each) fits with room to spare.
MAX_TOTAL_CHARS = 240_000


class Reading:
    """One attempt's state. ``sink`` shows text live; the provider's stream reader feeds
    ``answer`` / ``reasoning`` and sets ``reported_in`` / ``reported_out``."""

    def __init__(self, name: str, sink: Any) -> None:
        self.name = name
        self.sink = sink
        self.parts: list[str] = []
        self.answer_chars = 0
        self.thought: list[str] = []
        self.thought_kept = 0
        self.total_chars = 0  # everything received: answer, reasoning, refusal
        self.total_bytes = 0
        self.reported_in: Any = None
        self.reported_out: Any = None
        self.begin()

    def begin(self) -> None:
        """A new request of this attempt goes out (a JSON-mode downgrade sends another)."""
        self.sent = False  # the request body was written whole
        self.refused = False  # the server answered with an error, nothing generated

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` request extension (httpcore/_trace.py, emitted around each step
        in httpcore/_async/http11.py): the body went out whole at
        ``http11.send_request_body.complete``."""
        if event.endswith("send_request_body.complete"):
            self.sent = True

    # -- text ---------------------------------------------------------------------------------

    def answer(self, chunk: str) -> None:
        self._count(chunk)
        self.answer_chars += len(chunk)
        if self.answer_chars > MAX_REPLY_CHARS:
            raise LLMBadResponse(
                f"{self.name} sent more than {MAX_REPLY_CHARS:,} characters; stopped reading"
            )
        self.parts.append(chunk)
        self.sink(chunk)

    def reasoning(self, chunk: str) -> None:
        """Reasoning or refusal text: shown and kept up to MAX_REASONING_CHARS."""
        self._count(chunk)
        room = MAX_REASONING_CHARS - self.thought_kept
        if room <= 0:
            return
        kept = chunk[:room]
        self.thought.append(kept)
        self.thought_kept += len(kept)
        self.sink(kept)
        if len(chunk) > room:
            self.sink(
                f"\n[reasoning longer than {MAX_REASONING_CHARS:,} characters: the rest "
                "is not shown]\n"
            )

    def _count(self, chunk: str) -> None:
        self.total_chars += len(chunk)
        self.total_bytes += len(chunk.encode("utf-8", "replace"))
        if self.total_chars > MAX_TOTAL_CHARS:
            raise LLMBadResponse(
                f"{self.name} sent more than {MAX_TOTAL_CHARS:,} characters "
                "of answer and reasoning; stopped reading"
            )

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def has_text(self) -> bool:
        return bool(self.parts)

    # -- usage --------------------------------------------------------------------------------

    def usage(self, req: Any) -> tuple[int, int, str]:
        """(tokens_in, tokens_out, note) of a finished reply."""
        return checked_usage(
            self.reported_in, self.reported_out, req, self.total_chars, self.total_bytes
        )

    def spent(self, req: Any) -> Spent | None:
        """What this attempt costs now that it failed; None when nothing was billed."""
        if not self.sent or self.refused:
            return None
        return failed_usage(
            self.reported_in, self.reported_out, req, self.total_chars, self.total_bytes
        )
