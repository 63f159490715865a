"""`oxbot keys set` on a terminal: hidden prompts, one per field, and a pasted value works."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Callable

from waiting import wait_until

KEY = "sk-proj-PastedFromTheClipboard0123456789-a1b2"


class Terminal:
    """What the child has written to its terminal so far (``fd``: the pty's primary side)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""
        self.closed = False

    def _read(self) -> None:
        while not self.closed and select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            self.closed = not chunk
            self.data += chunk

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Everything shown once ``marker`` is (or the child closed the terminal)."""

        def shown() -> bool:
            self._read()
            return marker in self.data or self.closed

        wait_until(
            shown,
            timeout,
            f"{marker!r} on the terminal",
            every=0.05,
            detail=lambda: self.data.decode(errors="replace"),
        )
        return self.data


def test_prompt_hides_the_pasted_key(env_for: Callable[..., dict[str, str]]) -> None:
    env = env_for(PYTHON_KEYRING_BACKEND="secrets_fake_keyrings.MemoryKeyring")
    primary, secondary = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "oxbot.cli.main", "keys", "set", "openai"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        term = Terminal(primary)
        shown = term.read_until(b"API key: ", 20)
        assert b"input stays hidden" in shown
        os.write(primary, f"  {KEY}\n".encode())  # a paste, with the spaces a paste can bring
        shown = term.read_until(b"read back: ok", 20)
        assert child.wait(timeout=10) == 0, shown.decode(errors="replace")
    finally:
        os.close(primary)
        if child.poll() is None:
            child.kill()
            child.wait()
    text = shown.decode()
    assert "saved openai (api_key sk-proj-…a1b2) in the keyring" in text
    assert KEY not in text and KEY[8:20] not in text  # never echoed
