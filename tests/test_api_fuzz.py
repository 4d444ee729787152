"""The whole REST API under schemathesis: generated requests never get a 500.

Every operation of ``/api/v1/openapi.json`` is called with a bounded number
of generated cases (valid and invalid bodies, odd ids, odd strings) against
the real app on both databases, authenticated as an organiser.  A 5xx
answer is a bug: bad input must get a 4xx that says what is wrong.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from web_fixtures import api_token, app, organiser, transport

__all__ = ["api_token", "app", "organiser", "transport"]

# Cases per operation: enough to hit the boundaries schemathesis aims for
# (huge integers, empty and long strings, NUL bytes) in about a minute.
CASES = 30


def test_no_operation_answers_500(app: FastAPI, api_token: str) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema fails here
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=CASES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query or ''} "
                    f"{str(case.body)[:200]} → {response.status_code}"
                )

        run()
    assert operations > 20  # the whole API was walked
    assert failures == []
