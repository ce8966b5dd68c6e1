"""Sliding-window rate limits per chat and overall, with a safety margin against clock skew.

A send is counted from the moment it is dispatched (in flight, against the global window) and is
stamped with the time its answer came back: the platform handled it somewhere in between, so
spacing sends from that later time keeps them apart at the platform however long the trip took.

A third of the global window is kept for pages: ordinary messages leave in bursts that fill a
sliding window, and without a reserve an emergency filed behind a backlog would wait for the window
to slide (up to a second on Telegram) before its first page could leave.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class Window:
    """At most ``count`` events in any ``seconds``-long window."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count = max(1, count)
        self.seconds = seconds
        self.times: deque[float] = deque()

    def next_free(self, now: float, pending: int = 0, reserve: int = 0) -> float:
        """The earliest time an event may happen (``now`` if it may happen now), with ``pending``
        events under way that will be recorded when they finish and ``reserve`` places kept free."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        excess = len(self.times) + pending - max(1, self.count - reserve)
        if excess < 0:
            return now
        if excess < len(self.times):
            return self.times[excess] + self.seconds
        return now + self.seconds  # only events under way: their end wakes the sender

    def record(self, now: float) -> None:
        self.times.append(now)


class RateLimiter:
    """Per-chat windows (private or group) plus one global window, and ``retry_after`` holds."""

    MARGIN = 1.05
    #: The share of the global window that only pages (emergency or not) may use.
    RESERVED_FOR_PAGES = 1 / 3

    def __init__(
        self,
        *,
        global_per_second: float | None,
        private_per_second: float | None,
        group_per_minute: float | None,
        is_group: Callable[[str], bool],
    ) -> None:
        self.is_group = is_group
        self._private = private_per_second
        self._group = group_per_minute
        self._global = _window(global_per_second, 1.0, self.MARGIN)
        self._chats: dict[str, Window | None] = {}
        self._holds: dict[str, float] = {}
        self._under_way = 0

    def _chat(self, chat: str) -> Window | None:
        if chat not in self._chats:
            if self.is_group(chat):
                per_second = self._group / 60 if self._group else None  # the setting is per minute
                self._chats[chat] = _window(per_second, 60.0, self.MARGIN)
            else:
                self._chats[chat] = _window(self._private, 1.0, self.MARGIN)
        return self._chats[chat]

    def chat_free_at(self, chat: str, now: float) -> float:
        hold = self._holds.get(chat, 0.0)
        window = self._chat(chat)
        free = window.next_free(now) if window else now
        return max(free, hold)

    def global_free_at(self, now: float, *, page: bool = True) -> float:
        """When the next send may start; ``page`` for pages, which may use the reserved share."""
        if self._global is None:
            return now
        reserve = 0 if page else int(self._global.count * self.RESERVED_FOR_PAGES)
        return self._global.next_free(now, self._under_way, reserve)

    def begin(self) -> None:
        """A send was dispatched: it counts against the global window until :meth:`end`."""
        self._under_way += 1

    def end(self, chat: str, now: float) -> None:
        """A send to ``chat`` came back (delivered or not) at ``now``."""
        self._under_way = max(0, self._under_way - 1)
        window = self._chat(chat)
        if window:
            window.record(now)
        if self._global:
            self._global.record(now)

    def hold(self, chat: str, until: float) -> None:
        """Honour a platform's ``retry_after`` for this chat only."""
        self._holds[chat] = max(self._holds.get(chat, 0.0), until)

    def forget_idle(self, now: float) -> None:
        """Drop windows of chats that have been quiet for a while (bounded memory)."""
        for chat in [c for c, w in self._chats.items() if w is None or (not w.times or w.times[-1] < now - 120)]:
            del self._chats[chat]
        for chat in [c for c, until in self._holds.items() if until < now]:
            del self._holds[chat]


def _window(rate: float | None, seconds: float, margin: float) -> Window | None:
    if rate is None:
        return None
    if rate * seconds >= 1:
        return Window(int(rate * seconds), seconds * margin)
    return Window(1, seconds / rate * margin)
