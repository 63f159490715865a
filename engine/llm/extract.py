"""Find the JSON object in an LLM reply, however it is wrapped.

Handles: `<think>` blocks, code fences, prose before and after, trailing commas, single-quoted
strings, Python literals (True/None), unquoted keys, raw newlines in strings, NaN/Infinity
(turned into null: a missing number means "use the risk default", never a number that
poisons arithmetic). Truncated JSON is NOT completed: guessing the missing half of a trading
decision is worse than asking again.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_REPLY_CHARS = 60_000  # longer replies are cut before parsing: bounded work on hostile input

_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_TAG = re.compile(r"</?(?:think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"```[ \t]*[A-Za-z]*[ \t]*\n?(.*?)```", re.S)
_LITERALS = {"True": "true", "False": "false", "None": "null", "true": "true",
             "false": "false", "null": "null", "NaN": "NaN", "Infinity": "Infinity"}


class ExtractError(ValueError):
    """No usable JSON in the reply; the text says why (sent back to the model in a re-ask)."""


def extract_json(text: str) -> Any:
    """The decision JSON in ``text`` (a dict, or a list); ExtractError names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExtractError("the reply is empty")
    text = text[:MAX_REPLY_CHARS]
    cleaned = _THINK_TAG.sub("", _THINK_BLOCK.sub("", text))
    candidates = [m.group(1) for m in _FENCE.finditer(cleaned)]
    spans, truncated = _balanced(cleaned)
    candidates += spans
    found: list[Any] = []
    for cand in candidates:
        value = loads_lenient(cand)
        if value is not None:
            found.append(value)
    for value in found:
        if isinstance(value, dict) and "decisions" in value:
            return value
    for value in found:
        if isinstance(value, dict | list) and value:
            return value
    if truncated:
        raise ExtractError("the JSON is cut off before its end (truncated reply); "
                           "answer with a shorter, complete JSON object")
    raise ExtractError("no JSON object found in the reply; answer with only the JSON object")


def loads_lenient(text: str) -> Any:
    """Parse JSON, repairing the common slips; None when it cannot be parsed."""
    for attempt in (text, None):
        src = attempt if attempt is not None else _normalise(text)
        try:
            return _finite(json.loads(src, strict=False))
        except (ValueError, RecursionError):
            continue
    return None


def _finite(value: Any) -> Any:
    """NaN and +-Infinity become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
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
        spans.append(text[i:end + 1])
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
                    buf.append(s[j:j + 2])
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
