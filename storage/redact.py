"""A logging filter that blanks known secret values: the second line of defence.

The first line is that oxbot never formats a key into a message. This filter catches the slip:
every secret loaded through :mod:`oxbot.storage.secrets` is registered here, and any log record
whose text contains the value, or its base64 (standard or URL-safe, at any byte alignment, as it
would appear inside an HTTP ``Authorization: Basic`` header), is rewritten to ``[redacted]``;
so is any run of 12 or more characters copied from a value (a key a server quoted cut short,
or one a truncation split: 45 of 50 characters of a key were once stored that way).
"""

from __future__ import annotations

import base64
import logging
import threading

from oxbot.engine.textsafe import MIN_SECRET, SecretText, open_prefix

REDACTED = "[redacted]"

# Shorter values are too likely to be ordinary words or numbers; blanking them would wreck logs.
MIN_SECRET_LENGTH = MIN_SECRET
# A base64 fragment shorter than this could match by chance in unrelated text.
_MIN_B64_CORE = 8

_lock = threading.Lock()
_needles: set[str] = set()
_values = SecretText()  # the raw values, for runs copied from them


def _b64_cores(raw: bytes) -> set[str]:
    """The parts of base64 text that depend only on ``raw``, for each of the 3 byte alignments.

    Embedded in a longer string, ``raw`` starts at byte offset 0, 1 or 2 of a 3-byte group; the
    characters at the edges then mix in neighbouring bytes, the ones in between do not.
    """
    cores: set[str] = set()
    for offset in range(3):
        padded = b"\0" * offset + raw + b"\0\0"
        first = -(-8 * offset // 6)  # ceil: first char whose 6 bits all come from raw
        last = 8 * (offset + len(raw)) // 6  # one past the last such char
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode("ascii")[first:last]
            if len(core) >= _MIN_B64_CORE:
                cores.add(core)
    return cores


def register_secret(value: str) -> None:
    """Remember ``value`` so that every filtered log record has it (and its base64) blanked."""
    if len(value) < MIN_SECRET_LENGTH:
        return
    needles = {value} | _b64_cores(value.encode("utf-8"))
    with _lock:
        _needles.update(needles)
        _values.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret (and its base64), and any run of 12 or more
    characters of one, replaced by ``[redacted]``."""
    with _lock:
        needles = sorted(_needles, key=len, reverse=True)  # longest first: no partial leftovers
        values = _values
    for needle in needles:
        if needle in text:
            text = text.replace(needle, REDACTED)
    return values.blank(text, REDACTED)


def open_tail(text: str) -> int:
    """How many of the last characters of ``text`` could begin a registered secret: a stream
    of text (an LLM reply shown as it arrives) holds them back until the next piece shows
    whether a secret is being written."""
    with _lock:
        needles = list(_needles)
        values = _values
    return max(open_prefix(text, needles), values.open_tail(text))


def _clear_registry() -> None:
    """Forget every registered secret (tests use this to start clean)."""
    global _values
    with _lock:
        _needles.clear()
        _values = SecretText()


class RedactionFilter(logging.Filter):
    """Rewrites a record's message and exception text with secrets blanked; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactionFilter:
    """Attach one :class:`RedactionFilter` to ``logger`` (default: root) and to its handlers.

    Logger filters only see records logged on that very logger, while handler filters see
    everything that propagates to them; so both get it. Handlers added later need another call
    (it is idempotent).
    """
    target = logger if logger is not None else logging.getLogger()
    existing = next((f for f in target.filters if isinstance(f, RedactionFilter)), None)
    flt = existing or RedactionFilter()
    if existing is None:
        target.addFilter(flt)
    for handler in target.handlers:
        if not any(isinstance(f, RedactionFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
