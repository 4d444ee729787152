"""Transport rate limits (messages per second and per hour), shared by all workers.

With a Redis broker the counters live in Redis, so every worker process on
every machine draws from one budget: fixed windows keyed by the current
second and hour, incremented atomically (INCR) and expiring by themselves.
Without Redis (the embedded default, one process) the counters live in memory.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from newsletter.config import Settings, get_settings
from newsletter.errors import NewsletterError

# Longest a worker waits inside a batch for the budget; beyond this the batch
# gives its rows back and is retried later (RateLimitedError.retry_after).
MAX_INLINE_WAIT = 5.0


class RateLimitedError(NewsletterError):
    """The hourly budget is spent; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit reached; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class RateLimiter(Protocol):
    """Grants permission to send one message."""

    def acquire(self) -> None:
        """Block until one message may go; raises RateLimitedError for long waits."""


class Unlimited:
    """No limit configured."""

    def acquire(self) -> None:
        return None


class _Windows:
    """Shared logic: per-second and per-hour fixed windows over a counter store."""

    def __init__(self, per_second: float | None, per_hour: int | None) -> None:
        self.per_second = per_second
        self.per_hour = per_hour

    def incr(self, key: str, ttl: int) -> int:
        raise NotImplementedError

    def acquire(self) -> None:
        if self.per_second is not None:
            deadline = time.time() + MAX_INLINE_WAIT
            while True:
                now = time.time()
                if self.incr(f"s:{int(now)}", 5) <= self.per_second:
                    break
                if now > deadline:
                    raise RateLimitedError(1.0)
                time.sleep(max(int(now) + 1 - now, 0.001))
        if self.per_hour is not None:
            now = time.time()
            hour = int(now // 3600)
            # Counted once per granted message, after the per-second wait.
            if self.incr(f"h:{hour}", 3700) > self.per_hour:
                raise RateLimitedError((hour + 1) * 3600 - now)


class LocalRateLimiter(_Windows):
    """Counters in this process (embedded default)."""

    def __init__(self, per_second: float | None, per_hour: int | None) -> None:
        super().__init__(per_second, per_hour)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, ttl: int) -> int:
        with self._lock:
            if len(self._counts) > 64:
                self._counts.clear()  # old windows; the current one restarts at worst
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


class RedisRateLimiter(_Windows):
    """Counters in Redis, shared by every worker."""

    def __init__(self, url: str, per_second: float | None, per_hour: int | None) -> None:
        super().__init__(per_second, per_hour)
        import redis

        self._redis = redis.Redis.from_url(url)

    def incr(self, key: str, ttl: int) -> int:
        name = f"newsletter:rate:{key}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, ttl)
        count, _ = pipe.execute()
        return int(count)


def limiter_from_settings(settings: Settings | None = None) -> RateLimiter:
    """The limiter the settings ask for: Redis-backed when the broker is Redis."""
    s = settings or get_settings()
    if s.rate_per_second is None and s.rate_per_hour is None:
        return Unlimited()
    if s.broker_url and s.broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(s.broker_url, s.rate_per_second, s.rate_per_hour)
    return LocalRateLimiter(s.rate_per_second, s.rate_per_hour)
