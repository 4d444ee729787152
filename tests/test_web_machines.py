"""POST /webhooks/bounces (a real bounce posted over HTTP maps to its delivery) and /healthz."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bounce_messages import add_subscriber, dsn, send_to
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.models import Subscriber, Suppression
from newsletter.web.app import create_app

SECRET = "webhook-secret-for-tests"


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The web app with the webhook secret configured."""
    monkeypatch.setenv("NEWSLETTER_BOUNCE_WEBHOOK_SECRET", SECRET)
    reset_settings()
    with TestClient(create_app(start_worker=False)) as test_client:
        yield test_client


def _bounce() -> tuple[bytes, int]:
    with session_scope() as session:
        jane = add_subscriber(session, "jane@council.example")
        delivery, sent = send_to(session, jane)
        return dsn(sent, recipient="jane@council.example"), delivery.id


def test_posted_bounce_suppresses_and_names_the_delivery(client: TestClient) -> None:
    raw, delivery_id = _bounce()
    response = client.post(
        "/webhooks/bounces",
        content=raw,
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "hard" and result["delivery_id"] == delivery_id
    with session_scope() as session:
        assert session.scalar(select(Suppression.reason)) == "hard-bounce"
        assert session.scalar(select(Subscriber.status)) == "bounced"


def test_garbage_is_kept_aside_with_200(client: TestClient) -> None:
    response = client.post(
        "/webhooks/bounces",
        content=b"\x00\xffnot a message",
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "set-aside"
    with session_scope() as session:
        assert session.scalars(select(Suppression)).all() == []


def test_wrong_or_missing_secret_is_refused_and_changes_nothing(client: TestClient) -> None:
    raw, _ = _bounce()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}):
        response = client.post("/webhooks/bounces", content=raw, headers=headers)
        assert response.status_code == 401
    with session_scope() as session:
        assert session.scalars(select(Suppression)).all() == []
        assert session.scalar(select(Subscriber.status)) == "active"


def test_unconfigured_webhook_does_not_exist(database_url: str) -> None:
    with TestClient(create_app(start_worker=False)) as plain:
        response = plain.post("/webhooks/bounces", content=b"x")
    assert response.status_code == 404


def test_oversized_body_is_refused(client: TestClient) -> None:
    response = client.post(
        "/webhooks/bounces",
        content=b"x" * (2 * 1024 * 1024 + 1),
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 413


def test_health_check_reports_the_store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(start_worker=False)) as plain:
        assert plain.get("/healthz").json() == {"status": "ok"}
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    reset_settings()
    with TestClient(create_app(start_worker=False)) as broken:
        response = broken.get("/healthz")
    assert response.status_code == 503
