"""Live fan-out to consumers that may be slow: bounded, never blocking the socket reader.

Policy: the session hands every event to ``publish`` synchronously; each subscriber owns a
bounded queue. When a subscriber falls ``maxsize`` items behind, the *oldest* item is dropped
and counted in ``dropped`` — a live view prefers fresh data, and the durable path (the spool)
never goes through a lossy queue. A consumer that must not lose anything reads the spool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscriber(Generic[T]):
    """One consumer's bounded mailbox."""

    def __init__(self, maxsize: int, on_drop: Callable[[T], None] | None = None) -> None:
        if maxsize < 1:
            msg = f"maxsize must be >= 1, got {maxsize}"
            raise ValueError(msg)
        self.maxsize = maxsize
        self.on_drop = on_drop  # told of each item dropped (to count what it held)
        self.dropped = 0
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def put(self, item: T) -> None:
        if len(self._items) >= self.maxsize:
            dropped = self._items.popleft()
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(dropped)
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def get_batch(self) -> list[T]:
        """Everything queued so far (waits for at least one item); [] once closed and empty."""
        while not self._items:
            if self._closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        items = list(self._items)
        self._items.clear()
        return items


class Bus(Generic[T]):
    """Fan-out of one stream to many bounded subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber[T]] = []

    def subscribe(self, maxsize: int = 10_000,
                  on_drop: Callable[[T], None] | None = None) -> Subscriber[T]:
        sub: Subscriber[T] = Subscriber(maxsize, on_drop)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber[T]) -> None:
        self._subscribers.remove(sub)
        sub.close()

    def publish(self, item: T) -> None:
        for sub in self._subscribers:
            sub.put(item)

    def close(self) -> None:
        for sub in self._subscribers:
            sub.close()
