"""Text that can always be stored and shown: `storable(text)`.

Model replies, provider errors and exchange messages are outside text. Some of it cannot be
written to SQLite at all (a lone UTF-16 surrogate such as ``"\\ud800"``, which JSON allows as an
escape, makes Python's UTF-8 encoder raise), and some of it can mislead a terminal (NUL and
other control characters, bidi overrides that reorder what a reader sees). Everything the
engine stores or shows from outside goes through `storable` first, so a record built from it
can never fail to be written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# C0 controls except tab and newline, DEL, C1 controls; bidi embeddings/overrides/isolates
# (U+202A-U+202E, U+2066-U+2069), which reorder text on screen ("Trojan source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def storable(text: object, redact: object = None) -> str:
    """``text`` as a str that UTF-8 can encode and a terminal shows as written.

    Lone surrogates become U+FFFD (a valid pair is joined into its character); control
    characters are dropped, except tab and newline (a carriage return becomes a newline).
    ``redact``, when given, is a ``str -> str`` that blanks known secrets; it runs last.
    """
    s = text if isinstance(text, str) else str(text)
    if not s.isascii():
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    s = _UNSAFE.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))
    if callable(redact):
        s = str(redact(s))
    return s


class RedactingSink:
    """Streams text to ``sink`` with known secrets blanked, even when a secret arrives split
    over several chunks: the end of the text that may be the start of a secret is held back
    until the next chunk (or `flush`) decides.

    ``redact`` blanks every known secret in a text; ``open_tail(text)`` says how many of its
    last characters could begin one.
    """

    def __init__(self, sink: Callable[[str], None], redact: Callable[[str], str],
                 open_tail: Callable[[str], int]) -> None:
        self._sink = sink
        self._redact = redact
        self._open_tail = open_tail
        self._held = ""

    def __call__(self, text: str) -> None:
        buf = self._redact(self._held + text)
        keep = min(len(buf), max(0, self._open_tail(buf)))
        out, self._held = buf[:len(buf) - keep], buf[len(buf) - keep:]
        if out:
            self._sink(out)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, ""
            self._sink(self._redact(held))


def open_prefix(text: str, secrets: Iterable[str]) -> int:
    """How many of the last characters of ``text`` are the start of one of ``secrets``."""
    best = 0
    for secret in secrets:
        for k in range(min(len(text), len(secret) - 1), best, -1):
            if secret.startswith(text[-k:]):
                best = k
                break
    return best
