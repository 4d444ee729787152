"""Rate limits shared through a real Redis (its own server on a free port)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from newsletter.dispatch.ratelimit import LocalRateLimiter, RateLimitedError, RedisRateLimiter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on 127.0.0.1, stopped at the end."""
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


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
