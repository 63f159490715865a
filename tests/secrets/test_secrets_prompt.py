"""`oxbot keys set` on a terminal: hidden prompts, one per field, and a pasted value works."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable

KEY = "sk-proj-PastedFromTheClipboard0123456789-a1b2"


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    return data


def test_prompt_hides_the_pasted_key(env_for: Callable[..., dict[str, str]]) -> None:
    env = env_for(PYTHON_KEYRING_BACKEND="secrets_fake_keyrings.MemoryKeyring")
    primary, secondary = os.openpty()
    child = subprocess.Popen([sys.executable, "-m", "oxbot.cli.main", "keys", "set", "openai"],
                             stdin=secondary, stdout=secondary, stderr=secondary, env=env,
                             start_new_session=True)
    os.close(secondary)
    try:
        deadline = time.monotonic() + 20
        shown = _read_until(primary, b"API key: ", deadline)
        assert b"input stays hidden" in shown
        os.write(primary, f"  {KEY}\n".encode())  # a paste, with the spaces a paste can bring
        shown += _read_until(primary, b"read back: ok", deadline)
        assert child.wait(timeout=10) == 0, shown.decode(errors="replace")
    finally:
        os.close(primary)
        if child.poll() is None:
            child.kill()
            child.wait()
    text = shown.decode()
    assert "saved openai (api_key sk-proj-…a1b2) in the keyring" in text
    assert KEY not in text and KEY[8:20] not in text  # never echoed
