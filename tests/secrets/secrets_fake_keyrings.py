"""Keyring backends that misbehave on purpose, for tests (selected with PYTHON_KEYRING_BACKEND
in subprocesses, or keyring.set_keyring in-process). Not a place to keep real keys.

``MemoryKeyring`` (the working one) is the shared tests/support/memory_keyring.py, re-exported
here so ``secrets_fake_keyrings.MemoryKeyring`` still names it; subprocesses find it through
the PYTHONPATH that conftest.clean_env sets."""

from __future__ import annotations

import threading

from memory_keyring import MemoryKeyring

__all__ = ["RELEASE", "ForgetfulKeyring", "HangingKeyring", "LeakyFailingKeyring", "MemoryKeyring"]


class ForgetfulKeyring(MemoryKeyring):
    """Accepts every save and keeps nothing, like a misconfigured or null backend."""

    def set_password(self, service: str, username: str, password: str) -> None:
        return None


class LeakyFailingKeyring(MemoryKeyring):
    """Fails every save with an error text that quotes the value being saved."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"cannot store {username}={password!r}")


RELEASE = threading.Event()


class HangingKeyring(MemoryKeyring):
    """Never answers (a locked keyring waiting for a prompt nobody sees) until RELEASE is set."""

    def get_password(self, service: str, username: str) -> str | None:
        RELEASE.wait(3600)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        RELEASE.wait(3600)
