"""The log redaction filter: a key that slips into a log line (or its base64) is blanked."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator

import pytest

from oxbot.storage import redact

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    redact._clear_registry()
    stream = io.StringIO()
    parent = logging.getLogger("oxbot_redact_test")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    redact.register_secret(SECRET)
    redact.install_redaction(parent)
    yield parent, stream
    parent.removeHandler(handler)
    parent.filters.clear()
    redact._clear_registry()


def test_plain_args_base64_and_tracebacks_are_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    parent, stream = captured
    child = parent.getChild("exchange")  # records from children reach the parent's handler
    basic = base64.b64encode(f"user:{SECRET}".encode()).decode()
    parent.info("key is " + SECRET)
    child.warning("sending %s to %s", SECRET, "binance")
    child.debug("Authorization: Basic %s", basic)
    child.debug("urlsafe %s", base64.urlsafe_b64encode(b"\xff" + SECRET.encode()).decode())
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        child.exception("failed while signing")
    text = stream.getvalue()
    assert SECRET not in text
    assert basic not in text and base64.b64encode(SECRET.encode()).decode()[:12] not in text
    assert "sending [redacted] to binance" in text
    assert "Authorization: Basic " in text and "[redacted]" in text.split("Basic ")[1]
    assert "ValueError: bad key [redacted]" in text
    assert text.count("[redacted]") >= 5


def test_unrelated_text_and_short_values_are_left_alone(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    parent, stream = captured
    redact.register_secret("abc")  # too short to register: would blank ordinary words
    parent.info("abc %d orders filled", 3)
    assert stream.getvalue() == "oxbot_redact_test abc 3 orders filled\n"


def test_install_is_idempotent(captured: tuple[logging.Logger, io.StringIO]) -> None:
    parent, _ = captured
    first = redact.install_redaction(parent)
    assert redact.install_redaction(parent) is first
    assert len(parent.filters) == 1
    assert all(len(h.filters) == 1 for h in parent.handlers)


def test_a_run_of_twelve_characters_of_a_secret_is_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    # A key a server quoted cut short, or one split by a truncation, gives most of it away:
    # any 12 or more characters copied from a registered value are blanked; 11 are left
    # (shorter runs match ordinary text by chance).
    parent, stream = captured
    parent.info("prefix %s|", SECRET[:12])
    parent.info("middle %s|", SECRET[5:25])
    parent.info("short %s|", SECRET[:11])
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("prefix [redacted]|") and lines[1].endswith("middle [redacted]|")
    assert lines[2].endswith(f"short {SECRET[:11]}|")
    assert redact.open_tail("text " + SECRET[3:9]) == 6  # may be the start of a run
