"""What an HTTP answer says beside its stream: its media type, an error body's message and
blamed parameter, a Retry-After header; and a body read with a size cap (a hostile server's
error page must not be read without bound)."""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from typing import Any

import httpx

_DELTA_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date, RFC 9110 10.2.3);
    None when absent or unreadable (the caller's own backoff applies). Never raises: a date
    such as "Wed, 21 Oct 2015 99999999999:28:00 GMT" once raised OverflowError."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - time.time()
    except Exception:  # noqa: BLE001 - TypeError, ValueError, OverflowError, IndexError...
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def media_type(resp: httpx.Response) -> str:
    return str(resp.headers.get("content-type", "")).split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


async def read_capped(resp: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more."""
    buf = b""
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            return buf[:cap], True
    return buf, False


def error_message(obj: Any) -> str:
    """The message of an error body: OpenAI ``{"error": {"message"}}``, Anthropic
    ``{"type": "error", "error": {"type", "message"}}``, or a plain ``{"error": "..."}``;
    "" when ``obj`` is not an error."""
    if not isinstance(obj, dict):
        return ""
    err = obj.get("error")
    if isinstance(err, dict):
        msg = err.get("message")
        return msg if isinstance(msg, str) and msg else json.dumps(err)[:2000]
    if isinstance(err, str) and err:
        return err
    return json.dumps(obj)[:2000] if obj.get("type") == "error" else ""


def error_param(body: str) -> str:
    """The request parameter an error body blames (OpenAI's ``error.param``), or ""."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError, RecursionError):
        return ""
    param = err.get("param") if isinstance(err, dict) else None
    return param if isinstance(param, str) else ""
