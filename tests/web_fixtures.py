"""Helpers for the web tests: an app on the fresh store, captured mail, forms, sample updates.

Imported by ``tests/test_web_*.py``; the fixtures are re-exported there by
name so pytest finds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.dispatch.embedded import run_until_idle
from newsletter.dispatch.queue import in_process_queue
from newsletter.dispatch.runtime import Runtime, set_runtime
from newsletter.organisers import create_organiser, issue_token
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.transports.memory import InMemoryTransport
from newsletter.web import create_app

ORGANISER = "organiser@example.org"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def future_update_md(days: int = 40, title: str = "North East Update") -> str:
    """A Markdown update with one featured event ``days`` from now (UK time)."""
    when = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d")
    return f"""---
title: {title}
period: 2030-01
events:
  - title: Regional DCS meeting
    start: {when} 10:00
    end: {when} 12:30
    location: Durham County Hall
    featured: true
---

# {title}

Welcome to the update.

## Workforce

The apprentice scheme opens soon. Lead members are invited too.
"""


@pytest.fixture
def transport() -> Iterator[InMemoryTransport]:
    """The in-memory transport, installed as this process's runtime transport."""
    memory = InMemoryTransport()
    old = set_runtime(Runtime(transport=memory))
    yield memory
    set_runtime(old)


@pytest.fixture
def app(database_url: str, transport: InMemoryTransport) -> FastAPI:
    """The web app on the fresh store, without the embedded worker thread."""
    del database_url, transport
    return create_app(start_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A test client (runs the lifespan); leftover queued tasks run before the store goes."""
    with TestClient(app) as test_client:
        yield test_client
    in_process_queue().drain()


def csrf(client: TestClient, path: str) -> str:
    """The CSRF token of the form on page ``path`` (GET sets the session cookie)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    found = _CSRF.search(response.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


@pytest.fixture
def organiser(database_url: str) -> str:
    """An organiser account; returns its address (password :data:`PASSWORD`)."""
    del database_url
    with session_scope() as session:
        create_organiser(session, ORGANISER, PASSWORD)
    return ORGANISER


@pytest.fixture
def api_token(organiser: str) -> str:
    """A bearer token of the organiser."""
    from newsletter.organisers import find_organiser

    with session_scope() as session:
        found = find_organiser(session, organiser)
        assert found is not None
        return issue_token(session, found)


def login(client: TestClient, email: str = ORGANISER, password: str = PASSWORD) -> None:
    """Sign ``client`` in through the login form."""
    token = csrf(client, "/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/console"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def add_subscribers(count: int, role: str = "dcs", prefix: str = "reader") -> None:
    """Add ``count`` active subscribers with ``role``."""
    rows = [
        SubscriberInput.build(f"{prefix}{i}@example.org", name=f"Reader {i}", roles=[role])
        for i in range(count)
    ]
    with session_scope() as session:
        upsert(session, rows, default_status="active", consent_source="test")


def store_update(text: str, name: str = "update.md") -> int:
    """Ingest and store an update; returns its id."""
    from newsletter.updates import ingest

    with session_scope() as session:
        record, _ = ingest(session, text.encode("utf-8"), name)
        return record.id


def send_now(update_id: int, segments: list[str]) -> int:
    """Create a send due now and run it to the end in this process; returns its id."""
    from newsletter.dispatch.control import start_if_due
    from newsletter.sends import create_send

    with session_scope() as session:
        send_id = create_send(session, update_id=update_id, segments=segments).id
    start_if_due(send_id)
    run_until_idle()
    return send_id
