"""Rate limits shared through a real Redis (its own server on a free port)."""

from __future__ import annotations

import time

import pytest
from celery_harness import RedisServer, redis_server

from newsletter.dispatch.ratelimit import LocalRateLimiter, RateLimitedError, RedisRateLimiter

__all__ = ["redis_server"]  # the fixture, used by redis_url


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of this test's own redis-server (tests/celery_harness.py)."""
    return redis_server.url


def test_two_limiters_share_one_hourly_budget(redis_url: str) -> None:
    first = RedisRateLimiter(redis_url, per_second=None, per_hour=5)
    second = RedisRateLimiter(redis_url, per_second=None, per_hour=5)
    for limiter in (first, second, first, second, first):
        limiter.acquire()
    with pytest.raises(RateLimitedError) as caught:
        second.acquire()
    assert 0 < caught.value.retry_after <= 3600


def test_per_second_limit_spreads_sends_over_seconds(redis_url: str) -> None:
    limiters = [RedisRateLimiter(redis_url, per_second=3, per_hour=None) for _ in range(2)]
    seconds = []
    for i in range(9):
        limiters[i % 2].acquire()
        seconds.append(int(time.time()))
    # At most three grants fall in any one wall-clock second.
    assert max(seconds.count(s) for s in set(seconds)) <= 3
    assert len(set(seconds)) >= 3


def test_local_limiter_counts_in_process() -> None:
    limiter = LocalRateLimiter(per_second=None, per_hour=2)
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(RateLimitedError):
        limiter.acquire()
