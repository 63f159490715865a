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

    def __init__(
        self,
        sink: Callable[[str], None],
        redact: Callable[[str], str],
        open_tail: Callable[[str], int],
    ) -> None:
        self._sink = sink
        self._redact = redact
        self._open_tail = open_tail
        self._held = ""

    def __call__(self, text: str) -> None:
        buf = self._redact(self._held + text)
        keep = min(len(buf), max(0, self._open_tail(buf)))
        out, self._held = buf[: len(buf) - keep], buf[len(buf) - keep :]
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


# A run of this many characters copied from a secret is treated as the secret: a key a server
# quoted cut short, or one split by a truncation, still gives most of it away. Shorter runs
# are left (they match ordinary text by chance).
MIN_FRAGMENT = 12
MIN_SECRET = 6  # shorter values are too likely to be ordinary words or numbers


class SecretText:
    """Known secret values, blanked from texts: each value whole, and any run of
    `MIN_FRAGMENT` or more characters copied from one (``blank``); ``open_tail`` says how
    many of a text's last characters may be the start of such a run (a stream holds them
    back until the next piece decides)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._short: set[str] = set()  # MIN_SECRET <= len < MIN_FRAGMENT: blanked whole
        self._long: set[str] = set()
        self._grams: set[str] = set()  # every MIN_FRAGMENT-long run of the long values
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        # New sets, not updated ones: another thread may be reading the old ones (the log
        # filter runs in any thread).
        if len(value) < MIN_SECRET:
            return
        if len(value) < MIN_FRAGMENT:
            self._short = self._short | {value}
            return
        self._long = self._long | {value}
        self._grams = self._grams | {
            value[i : i + MIN_FRAGMENT] for i in range(len(value) - MIN_FRAGMENT + 1)
        }

    def __bool__(self) -> bool:
        return bool(self._short or self._long)

    def blank(self, text: str, mark: str = "[redacted]") -> str:
        if self._grams and len(text) >= MIN_FRAGMENT:
            text = self._blank_runs(text, mark)
        for value in sorted(self._short, key=len, reverse=True):
            if value in text:
                text = text.replace(value, mark)
        return text

    def _blank_runs(self, text: str, mark: str) -> str:
        """Each maximal run of overlapping MIN_FRAGMENT-windows found in a secret -> mark."""
        spans: list[list[int]] = []
        grams, k = self._grams, MIN_FRAGMENT
        for i in range(len(text) - k + 1):
            if text[i : i + k] in grams:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = i + k
                else:
                    spans.append([i, i + k])
        if not spans:
            return text
        out, at = [], 0
        for start, end in spans:
            out += [text[at:start], mark]
            at = end
        out.append(text[at:])
        return "".join(out)

    def open_tail(self, text: str) -> int:
        best = open_prefix(text, self._short)
        for k in range(min(len(text), MIN_FRAGMENT - 1), best, -1):
            tail = text[-k:]
            if any(tail in value for value in self._long):
                return k
        return best
