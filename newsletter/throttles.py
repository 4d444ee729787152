"""Throttles: sliding-window counters per key, shared across processes when Redis is there.

A :class:`Throttle` answers "has ``key`` been counted ``limit`` times in the
last ``window`` seconds?".  With a Redis broker configured the counts live in
Redis (one sorted set per key, expiring with the window), so every web
process and worker sees the same numbers; without one they live in this
process's memory, in a least-recently-used table of at most
:data:`MEMORY_KEYS` keys, so a flood of distinct keys (addresses, IPs) cannot
grow memory without bound and each hit costs O(1) amortised.

Callers choose what to count: the sign-in form counts failed attempts only,
per account and per client address; the subscribe form counts requests per
client address; confirmation mail counts messages per recipient.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from typing import Any, Final, Protocol

from newsletter.config import Settings, get_settings

log = logging.getLogger(__name__)

# Keys kept in memory per throttle; the least recently used beyond this are forgotten.
MEMORY_KEYS: Final = 10_000
_PREFIX: Final = "newsletter:throttle:"


class Throttle(Protocol):
    """At most ``limit`` counts per ``window`` seconds per key."""

    limit: int
    window: float

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may be counted again, or None when it is under the limit."""

    def count(self, key: str) -> None:
        """Count one event for ``key``."""

    def hit(self, key: str) -> float | None:
        """Count one event if under the limit; returns None if counted, else seconds to wait."""

    def clear(self, key: str | None = None) -> None:
        """Forget ``key`` (every key when None)."""


class MemoryThrottle:
    """A :class:`Throttle` in this process's memory (bounded LRU of keys)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = MEMORY_KEYS) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def _wait(self, hits: deque[float], now: float) -> float | None:
        if len(hits) >= self.limit:
            return max(0.0, hits[0] + self.window - now)
        return None

    def retry_after(self, key: str, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            return self._wait(self._recent(key, now), now)

    def count(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(key, now).append(now)

    def hit(self, key: str, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._recent(key, now)
            wait = self._wait(hits, now)
            if wait is None:
                hits.append(now)
            return wait

    def clear(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._hits.clear()
            else:
                self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)


class RedisThrottle:
    """A :class:`Throttle` in Redis: a sorted set of hit times per key, expiring with the window."""

    def __init__(self, client: Any, name: str, limit: int, window: float) -> None:
        self.client = client
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return f"{_PREFIX}{self.name}:{key}"

    def _state(self, key: str, now: float) -> tuple[int, float | None]:
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self._key(key), 0, now - self.window)
        pipe.zcard(self._key(key))
        pipe.zrange(self._key(key), 0, 0, withscores=True)
        _, size, oldest = pipe.execute()
        first = float(oldest[0][1]) if oldest else None
        return int(size), first

    def retry_after(self, key: str) -> float | None:
        now = time.time()
        size, first = self._state(key, now)
        if size >= self.limit and first is not None:
            return max(0.0, first + self.window - now)
        return None

    def count(self, key: str) -> None:
        now = time.time()
        pipe = self.client.pipeline()
        pipe.zadd(self._key(key), {f"{now}:{uuid.uuid4().hex[:8]}": now})
        pipe.expire(self._key(key), int(self.window) + 1)
        pipe.execute()

    def hit(self, key: str) -> float | None:
        # Check then count: two clients may both slip in at the limit, which
        # over-counts by at most the number of concurrent requests (a bound still).
        wait = self.retry_after(key)
        if wait is None:
            self.count(key)
        return wait

    def clear(self, key: str | None = None) -> None:
        if key is not None:
            self.client.delete(self._key(key))
            return
        for name in self.client.scan_iter(f"{_PREFIX}{self.name}:*"):
            self.client.delete(name)


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> Any:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
            _clients[url] = client
        return client


_memory: dict[tuple[str, int, float], MemoryThrottle] = {}
_memory_lock = threading.Lock()


def throttle(
    name: str,
    limit: int,
    window: float,
    *,
    settings: Settings | None = None,
    shared: bool = True,
) -> Throttle:
    """The throttle called ``name``: in Redis with a ``redis://`` broker, else in memory.

    In memory and ``shared``, the same ``(name, limit, window)`` gives the
    same object in one process, so a web request and the in-process task it
    queues share counts; ``shared=False`` gives a new private one (one per app).
    """
    s = settings or get_settings()
    url = s.broker_url or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisThrottle(_redis(url), name, limit, window)
    if not shared:
        return MemoryThrottle(limit, window)
    with _memory_lock:
        found = _memory.get((name, limit, window))
        if found is None:
            found = MemoryThrottle(limit, window)
            _memory[(name, limit, window)] = found
        return found


def clear_memory_throttles() -> None:
    """Forget every in-memory count (tests)."""
    with _memory_lock:
        for item in _memory.values():
            item.clear()
