"""The chaos suite's short selection, against real services (``pytest -m chaos``).

Each test runs a scenario of benchmarks/chaos.py on its own private stack: a
PostgreSQL cluster started with initdb/pg_ctl, a redis-server, the counting
SMTP server (every accepted message fsynced before its 250), beat and real
``newsletter worker`` processes, all with default settings but a short first
retry delay.  The other scenarios (PostgreSQL and Redis restarts, SMTP down
a minute, 451s, pause/resume, the shared rate limit) run in ``python
benchmarks/chaos.py``; the README has their figures, and a Redis restart is
also in test_dispatch_celery.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import chaos

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

N = 1000


@pytest.fixture(scope="module")
def stack() -> Iterator[chaos.Stack]:
    with chaos.running_stack(N) as running:
        yield running


def test_whole_worker_killed_twice_duplicates_only_what_was_on_the_wire(
    stack: chaos.Stack,
) -> None:
    outcome = chaos.run_scenario(stack, "kill-worker")
    assert outcome.status == "finished", outcome
    assert outcome.missing == 0, outcome
    # One SMTP connection per pool process: at each kill at most one message
    # per connection can have been accepted and not yet journaled.
    assert outcome.duplicates <= 2 * chaos.CONCURRENCY, outcome
    assert outcome.same_message_id, outcome.notes
    assert outcome.reclaim_seconds is not None and outcome.reclaim_seconds < 60, outcome


def test_postgres_connections_terminated_in_a_loop_lose_and_duplicate_nothing(
    stack: chaos.Stack,
) -> None:
    outcome = chaos.run_scenario(stack, "pg-terminate", seconds=8.0)
    assert outcome.status == "finished", outcome
    assert (outcome.missing, outcome.duplicates) == (0, 0), outcome
    assert outcome.same_message_id, outcome.notes
