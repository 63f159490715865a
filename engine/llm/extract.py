"""The decision JSON of an LLM reply - only when the WHOLE answer is that JSON.

A reply is a decision only when, after removing one closed reasoning block at its start
(``<think>...</think>``, or reasoning ended by ``</think>`` when the server put the opening tag
in the prompt) and one code fence wrapping all of it, nothing but one JSON value is left. JSON
found inside prose is not a decision: a model that writes "a buy would look like {...} but I am
not doing that" has not decided to buy. Two candidate objects are ambiguous; an unclosed
reasoning block is an unfinished answer. An object that repeats a key (at any depth:
``{"action": "hold", "action": "buy"}``, or two ``decisions`` arrays) is ambiguous too: JSON
parsers keep the last value, a reader may take the first. Each case raises `ExtractError`
with a text that says what was wrong (it goes back to the model in the one repair re-ask, and
into the stored decision).

Inside that one value the common syntax slips are repaired: trailing commas, single-quoted
strings, Python literals (True/None), unquoted keys, raw newlines in strings. Truncated JSON is
NOT completed. Numbers are read as Decimal (a price keeps its digits, 1e999 stays finite and is
refused by the range checks); NaN and Infinity become `Unreadable`, which the schema refuses:
an unreadable number never turns into "use the default".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_REPLY_CHARS = 60_000  # a longer reply is refused unread: bounded work on hostile input

_TAGS = "think|thinking|reasoning"
_OPEN = re.compile(rf"<({_TAGS})>", re.I)
_ANY_TAG = re.compile(rf"</?(?:{_TAGS})>", re.I)
# One fence around the whole answer: ```json\n...\n``` (any language word, or none).
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)\n?[ \t]*```", re.S)
_LITERALS = {
    "True": "true",
    "False": "false",
    "None": "null",
    "true": "true",
    "false": "false",
    "null": "null",
    "NaN": "NaN",
    "Infinity": "Infinity",
}


class ExtractError(ValueError):
    """No usable JSON in the reply; the text says why (sent back to the model in a re-ask)."""


class DuplicateKey(ValueError):
    """An object of the reply names the same key twice (``key``)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Unreadable:
    """A JSON constant that is not a number (NaN, Infinity, -Infinity), kept so the schema
    can name the field it was given for and refuse it."""

    text: str

    def __str__(self) -> str:
        return self.text


def extract_json(text: str) -> Any:
    """The decision JSON in ``text`` (a dict, or a list); ExtractError names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExtractError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ExtractError(
            f"the reply is {len(text):,} characters long, more than "
            f"{MAX_REPLY_CHARS:,}; answer with the JSON object only"
        )
    body = _without_reasoning(text).strip()
    fenced = _FENCE.fullmatch(body)
    if fenced is not None and "```" not in fenced.group(2):
        body = fenced.group(2).strip()
    if body[:1] in ("{", "["):
        end = _match(body, 0)
        if end == len(body) - 1:
            try:
                value = loads_lenient(body)
            except DuplicateKey as e:
                raise ExtractError(
                    f"the reply gives the key {e.key[:40]!r} twice in one object; it is "
                    "ambiguous which value is meant; answer with each key once"
                ) from None
            if value is None:
                raise ExtractError(
                    "the reply is not valid JSON; answer with only the JSON "
                    "object, double-quoted keys and strings"
                )
            return value
    raise ExtractError(_why_not(body))


def _without_reasoning(text: str) -> str:
    """The answer after one closed reasoning block at the start; ExtractError if a block is
    left open, or reasoning tags remain elsewhere (not one block before the answer)."""
    stripped = text.lstrip()
    opened = _OPEN.match(stripped)
    if opened is not None:
        close = re.search(rf"</{opened.group(1)}>", stripped, re.I)
        if close is None:
            raise ExtractError(
                f"the reasoning block <{opened.group(1)}> is not closed: the "
                "answer is unfinished; answer with only the JSON object"
            )
        rest = stripped[close.end() :]
    else:
        close = re.search(rf"</(?:{_TAGS})>", stripped, re.I)
        first_open = _OPEN.search(stripped)
        if close is not None and (first_open is None or first_open.start() > close.start()):
            rest = stripped[close.end() :]  # the opening tag was in the prompt template
        else:
            rest = stripped
    if _ANY_TAG.search(rest):
        raise ExtractError(
            "the reply has reasoning tags outside one block at its start; "
            "answer with only the JSON object"
        )
    return rest


def _why_not(body: str) -> str:
    """Why ``body`` (reasoning removed) is not one decision object: the repair's text."""
    spans, truncated = _balanced(body)
    found = sum(1 for s in spans if _is_value(s))
    if found >= 2:
        return (
            f"the reply holds {found} JSON values and it is ambiguous which one is the "
            "decision; answer with exactly one JSON object and no other text"
        )
    if found == 1:
        return (
            "the reply has text around its JSON object; JSON inside prose is not a "
            "decision; answer with only the JSON object"
        )
    if truncated:
        return (
            "the JSON is cut off before its end (truncated reply); answer with a shorter, "
            "complete JSON object"
        )
    return "no JSON object found in the reply; answer with only the JSON object"


def _is_value(span: str) -> bool:
    """Whether ``span`` reads as a JSON object or list (one with a repeated key counts)."""
    try:
        return isinstance(loads_lenient(span), dict | list)
    except DuplicateKey:
        return True


def loads_lenient(text: str) -> Any:
    """Parse JSON, repairing the common slips; None when it cannot be parsed. DuplicateKey
    when an object repeats a key: never "the last one wins"."""
    for attempt in (text, None):
        src = attempt if attempt is not None else _normalise(text)
        try:
            return _whole_chars(
                json.loads(
                    src,
                    strict=False,
                    parse_float=Decimal,
                    parse_constant=Unreadable,
                    object_pairs_hook=_unique_keys,
                )
            )
        except DuplicateKey:
            raise
        except (ValueError, RecursionError):
            continue
    return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict; DuplicateKey if a key comes twice (also two keys that
    only differ in lone surrogates, which `_whole_chars` makes equal)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        clean = _whole_chars(key)
        if clean in out:
            raise DuplicateKey(clean)
        out[clean] = value
    return out


def _whole_chars(value: Any) -> Any:
    """Lone surrogates from JSON escapes ("\\ud800") become U+FFFD in every string: such a
    string can be neither validated nor stored, and a symbol with one matches nothing."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_whole_chars(k): _whole_chars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_chars(v) for v in value]
    return value


def _balanced(text: str) -> tuple[list[str], bool]:
    """Top-level {...} / [...] spans, string-aware; and whether one never closed."""
    spans: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] not in "{[":
            i += 1
            continue
        end = _match(text, i)
        if end < 0:
            return spans, True
        spans.append(text[i : end + 1])
        i = end + 1
    return spans, False


def _match(text: str, start: int) -> int:
    depth, quote, i, n = 0, "", start, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (ch == '"' or _opens_single_quote(text, i)):
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _opens_single_quote(text: str, i: int) -> bool:
    """A ' starts a string only after JSON punctuation (not an apostrophe in a word)."""
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return j >= 0 and text[j] in "{[,:"


def _normalise(s: str) -> str:
    """One string-aware pass: quotes, trailing commas, literals, bare keys."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == '"' or (ch == "'" and _opens_single_quote(s, i)):
            j, buf = i + 1, []
            while j < n and s[j] != ch:
                if s[j] == "\\" and j + 1 < n:
                    buf.append(s[j : j + 2])
                    j += 2
                    continue
                buf.append(s[j])
                j += 1
            body = "".join(buf)
            if ch == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            out.append(f'"{body}"')
            i = j + 1
            continue
        if ch == ",":
            k = i + 1
            while k < n and s[k].isspace():
                k += 1
            if k < n and s[k] in "}]":
                i += 1
                continue
        if ch.isalpha() or ch == "_":
            j = i
            while j < n and (s[j].isalnum() or s[j] in "_-/"):
                j += 1
            word = s[i:j]
            k = j
            while k < n and s[k] in " \t":
                k += 1
            if k < n and s[k] == ":" and word not in _LITERALS:
                out.append(f'"{word}"')  # bare key
            else:
                out.append(_LITERALS.get(word, word))
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)
