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
        """Count one event if under the limit; returns None if counted, else seconds to wait.

        Atomic: of any number of concurrent hits at the limit, only the
        remaining allowance is counted."""

    def refund(self, key: str) -> None:
        """Take back the latest count of ``key`` (a hit that turned out not to count)."""

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

    def refund(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._recent(key, now)
            if hits:
                hits.pop()

    def clear(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._hits.clear()
            else:
                self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)


# One script does a throttle's read and write inside Redis, so concurrent
# clients cannot both pass the check before either counts (checking from the
# client and then counting let 50 simultaneous sign-in attempts through a
# limit of 5).  Times come from the Redis server's clock, so processes on
# machines with skewed clocks share one window.
#   KEYS[1] the sorted set; ARGV: window seconds, limit, mode, member
#   mode "hit": count if under the limit; "count": count regardless;
#   "peek": count nothing; "refund": take back the latest count.  Returns nil
#   when under the limit (and counted unless peeking), else the seconds to
#   wait as a string (Lua numbers become integers on the way out).
_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local mode = ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if mode == 'refund' then
    redis.call('ZPOPMAX', KEYS[1])
    return false
end
if mode ~= 'count' and redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return tostring(math.max(0, tonumber(oldest[2]) + window - now))
end
if mode ~= 'peek' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
end
return false
"""


class RedisThrottle:
    """A :class:`Throttle` in Redis: a sorted set of hit times per key, expiring with the window.

    Every operation is one script run inside Redis (:data:`_SCRIPT`), so
    ``hit`` is atomic: however many processes race at the limit, exactly
    ``limit`` are counted per window.
    """

    def __init__(self, client: Any, name: str, limit: int, window: float) -> None:
        self.client = client
        self.name = name
        self.limit = limit
        self.window = window
        self._script = client.register_script(_SCRIPT)

    def _key(self, key: str) -> str:
        return f"{_PREFIX}{self.name}:{key}"

    def _run(self, key: str, mode: str) -> float | None:
        member = uuid.uuid4().hex
        wait = self._script(keys=[self._key(key)], args=[self.window, self.limit, mode, member])
        return None if wait is None else float(wait)

    def retry_after(self, key: str) -> float | None:
        return self._run(key, "peek")

    def count(self, key: str) -> None:
        self._run(key, "count")

    def hit(self, key: str) -> float | None:
        return self._run(key, "hit")

    def refund(self, key: str) -> None:
        self._run(key, "refund")

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
