"""The per-send delivery report: who did not get a send and why, in the console, CLI and API.

One send meets every outcome: delivered, refused for good (550 5.1.1), a full
mailbox (552 5.2.2), a 451 until the engine gives up, an address suppressed
before its turn, a bounce report after delivery (a real RFC 3464 report through
the bounce intake) and an unsubscribe through the email's own link.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from bounce_messages import dsn
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import (
    add_subscribers,
    api_token,
    app,
    client,
    future_update_md,
    login,
    organiser,
    send_now,
    store_update,
    transport,
)

from newsletter import delivery_report
from newsletter.bounces.intake import ingest_message
from newsletter.cli import app as cli_app
from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.models import Subscriber
from newsletter.suppressions import add_suppression
from newsletter.tokens import unsubscribe_url
from newsletter.transports.memory import InMemoryTransport

__all__ = ["api_token", "app", "client", "organiser", "transport"]


@pytest.fixture
def report_send(
    client: TestClient, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> int:
    """A send of 8 with every outcome; returns its id."""
    monkeypatch.setenv("NEWSLETTER_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("NEWSLETTER_MAX_ATTEMPTS", "3")
    reset_settings()
    add_subscribers(8)
    transport.fail("reader1@example.org", 550, "5.1.1 <reader1@example.org>: user unknown")
    transport.fail("reader2@example.org", 552, "5.2.2 mailbox full")
    transport.fail("reader3@example.org", 451, "4.7.1 greylisted, try again later")
    with session_scope() as session:
        add_suppression(session, "reader4@example.org", "manual", "asked by phone")
    send_id = send_now(store_update(future_update_md()), ["dcs"])
    # A bounce report arrives for reader5 after delivery; reader6 unsubscribes from the email.
    (delivered,) = transport.sent_to("reader5@example.org")
    report = dsn(
        delivered.data,
        recipient="reader5@example.org",
        status="5.2.1",
        diagnostic="smtp; 550 5.2.1 mailbox disabled",
        envelope_to=delivered.envelope_from,
    )
    with session_scope() as session:
        result = ingest_message(session, report)
        assert result.delivery_id is not None, result
        reader6 = session.scalars(
            select(Subscriber.id).where(Subscriber.email_key == "reader6@example.org")
        ).one()
    link = unsubscribe_url(reader6, send_id)
    assert client.post("/u/" + link.rsplit("/u/", 1)[1]).status_code == 200
    return send_id


def _by_email(rows: list[delivery_report.ReportRow]) -> dict[str, delivery_report.ReportRow]:
    return {r.email: r for r in rows}


def test_every_recipient_with_status_reason_and_reply(report_send: int) -> None:
    with session_scope() as session:
        rows = _by_email(list(delivery_report.iter_rows(session, report_send)))
        why = delivery_report.reasons(session, report_send)
    assert len(rows) == 8
    assert rows["reader0@example.org"].status == "sent"
    assert rows["reader7@example.org"].status == "sent"
    failed = rows["reader1@example.org"]
    assert (failed.status, failed.reason) == ("failed", "address does not exist")
    assert "550 5.1.1" in failed.raw and failed.attempts == 1
    full = rows["reader2@example.org"]
    assert (full.status, full.reason) == ("failed", "mailbox full")
    gave_up = rows["reader3@example.org"]
    assert gave_up.status == "failed" and gave_up.attempts == 3
    assert gave_up.reason == "gave up after 3 tries (delayed by the receiving server's policy)"
    assert "451 4.7.1 greylisted" in gave_up.raw
    suppressed = rows["reader4@example.org"]
    assert (suppressed.status, suppressed.reason) == ("skipped", "suppressed before sending")
    bounced = rows["reader5@example.org"]
    assert bounced.status == "bounced" and bounced.reason.startswith("bounced after it was sent")
    assert "5.2.1" in bounced.raw
    assert rows["reader6@example.org"].status == "unsubscribed"
    text = delivery_report.reasons_text(why)
    for part in (
        "1 address does not exist",
        "1 mailbox full",
        "1 gave up after 3 tries",
        "1 suppressed before sending",
        "1 unsubscribed from this email",
    ):
        assert part in text, text
    with session_scope() as session:
        missed, _ = delivery_report.page(session, report_send, status="not_delivered")
        found, _ = delivery_report.page(session, report_send, search="READER3@")
    assert {r.email for r in missed} == {f"reader{i}@example.org" for i in (1, 2, 3, 4, 5)}
    assert [r.email for r in found] == ["reader3@example.org"]


def test_console_report_paged_filtered_and_csv(
    client: TestClient, organiser: str, report_send: int
) -> None:
    login(client)
    page = client.get(f"/console/sends/{report_send}")
    reasons = re.search(r'<ul id="reasons">(.*?)</ul>', page.text, re.S)
    assert reasons and "1 gave up after 3 tries" in reasons.group(1)
    report = client.get(f"/console/sends/{report_send}/recipients?status=not_delivered")
    assert report.status_code == 200
    table = re.search(r'<table class="stack" id="recipients">(.*?)</table>', report.text, re.S)
    assert table and table.group(1).count("<tr>") == 6  # header + 5
    assert "mailbox full" in table.group(1) and "5.2.2 mailbox full" in table.group(1)
    csv_text = client.get(f"/console/sends/{report_send}/recipients.csv").text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == 8 and {r["status"] for r in rows} >= {"sent", "failed", "skipped"}
    assert client.get(f"/console/sends/{report_send}/recipients.csv?status=x").status_code == 400
    assert client.get("/console/sends/999/recipients").status_code == 404


def test_cli_and_api_report(client: TestClient, api_token: str, report_send: int) -> None:
    runner = CliRunner()
    listed = runner.invoke(
        cli_app, ["sends", "recipients", str(report_send), "--status", "failed", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert sorted(r["email"] for r in json.loads(listed.stdout)) == [
        "reader1@example.org",
        "reader2@example.org",
        "reader3@example.org",
    ]
    table = runner.invoke(cli_app, ["sends", "recipients", str(report_send)])
    lines = table.stdout.splitlines()
    assert lines[0].split("\t")[:4] == ["email", "segment", "status", "reason"]
    assert len(lines) == 9
    shown = runner.invoke(cli_app, ["sends", "show", str(report_send)])
    assert "not received: " in shown.stdout and "1 mailbox full" in shown.stdout
    bad = runner.invoke(cli_app, ["sends", "recipients", str(report_send), "--status", "lost"])
    assert bad.exit_code == 2 and "status" in bad.stderr
    headers = {"Authorization": f"Bearer {api_token}"}
    first = client.get(f"/api/v1/sends/{report_send}/recipients?limit=5", headers=headers).json()
    assert len(first["items"]) == 5 and first["next_after"] is not None
    rest = client.get(
        f"/api/v1/sends/{report_send}/recipients?after={first['next_after']}", headers=headers
    ).json()
    assert len(rest["items"]) == 3 and rest["next_after"] is None
    assert any(r["reason"] == "mailbox full" for r in first["reasons"])
    wrong = client.get(f"/api/v1/sends/{report_send}/recipients?status=lost", headers=headers)
    assert wrong.status_code == 422
