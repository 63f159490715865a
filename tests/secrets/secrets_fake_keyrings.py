"""Keyring backends that misbehave on purpose, for tests (selected with PYTHON_KEYRING_BACKEND
in subprocesses, or keyring.set_keyring in-process). Not a place to keep real keys."""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend
from keyring.compat import properties


class MemoryKeyring(KeyringBackend):
    """A working backend in a dict: the in-process stand-in for the Secret Service."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


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
