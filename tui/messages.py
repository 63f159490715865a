"""App-wide Textual messages (widget-scoped ones are nested in their widgets)."""

from __future__ import annotations

from textual.message import Message


class EngineEventsArrived(Message):
    """Engine events are waiting in the EventInbox; the handler drains them."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineEventsArrived)


class SettingsSaved(Message):
    """A settings write finished in its worker."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
