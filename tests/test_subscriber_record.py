"""One subscriber's page: record, history with consent, sends received, and the actions
(add, edit, unsubscribe, resubscribe on fresh consent, erase) in the console, CLI and API.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner
from web_fixtures import (
    ORGANISER,
    add_subscribers,
    api_token,
    app,
    client,
    csrf,
    future_update_md,
    login,
    organiser,
    send_now,
    store_update,
    transport,
)

from newsletter.cli import app as cli_app
from newsletter.db import session_scope
from newsletter.models import Delivery, StatusChange, Subscriber, Suppression
from newsletter.sends import counts
from newsletter.transports.memory import InMemoryTransport

__all__ = ["api_token", "app", "client", "organiser", "transport"]


def _id(address: str) -> int:
    with session_scope() as session:
        found = session.scalars(select(Subscriber.id).where(Subscriber.email_key == address)).one()
        return int(found)


def _status(address: str) -> str | None:
    with session_scope() as session:
        return session.scalars(
            select(Subscriber.status).where(Subscriber.email_key == address)
        ).first()


def test_console_page_shows_history_sends_and_failure_reasons(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    add_subscribers(3)
    transport.fail("reader1@example.org", 550, "5.1.1 no such mailbox")
    update_id = store_update(future_update_md())
    send_id = send_now(update_id, ["dcs"])
    login(client)
    listing = client.get("/console/subscribers")
    reader = _id("reader1@example.org")
    assert f'href="/console/subscribers/{reader}"' in listing.text
    page = client.get(f"/console/subscribers/{reader}")
    assert page.status_code == 200
    text = page.text
    assert "reader1@example.org" in text and "Directors of Children" in text
    # History: added (consent "test"), then bounced by the 550 with the reason.
    assert "active" in text and "test" in text and "suppressed (smtp-rejected)" in text
    # The send, its delivery status and the raw SMTP reply.
    assert f'href="/console/sends/{send_id}"' in text
    assert "failed" in text and "5.1.1 no such mailbox" in text
    assert "UK" in text and "UTC" not in text
    assert client.get("/console/subscribers/999999").status_code == 404
    assert client.get("/console/subscribers/not-a-number").status_code == 422


def test_console_add_edit_unsubscribe_resubscribe_erase(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    login(client)
    token = csrf(client, "/console/subscribers/new")
    bad = client.post("/console/subscribers", data={"csrf_token": token, "email": "not-an-address"})
    assert bad.status_code == 400 and "email:" in bad.text
    added = client.post(
        "/console/subscribers",
        data={
            "csrf_token": token,
            "email": "Ann.Lee@Durham.gov.uk",
            "name": "Ann Lee",
            "organisation": "Durham",
            "roles": ["dcs"],
            "other_roles": "Virtual school head",
            "status": "active",
        },
    )
    assert added.status_code == 200 and "Subscriber added." in added.text
    ann = _id("ann.lee@durham.gov.uk")
    again = client.post(
        "/console/subscribers", data={"csrf_token": token, "email": "ann.lee@durham.gov.uk"}
    )
    assert again.status_code == 400 and "already on the list" in again.text

    edited = client.post(
        f"/console/subscribers/{ann}",
        data={
            "csrf_token": token,
            "email": "ann.lee@durham.gov.uk",
            "name": "Ann Lee-Smith",
            "organisation": "Durham County Council",
            "roles": ["lead-member"],
        },
    )
    assert "Changes saved." in edited.text
    with session_scope() as session:
        person = session.get(Subscriber, ann)
        assert person is not None
        assert (person.name, person.organisation, person.role_names) == (
            "Ann Lee-Smith",
            "Durham County Council",
            ["lead-member"],
        )

    client.post(f"/console/subscribers/{ann}/unsubscribe", data={"csrf_token": token})
    assert _status("ann.lee@durham.gov.uk") == "unsubscribed"
    refused = client.post(
        f"/console/subscribers/{ann}/resubscribe", data={"csrf_token": token, "consent": "  "}
    )
    assert refused.status_code == 400 and "consent" in refused.text
    assert _status("ann.lee@durham.gov.uk") == "unsubscribed"
    back = client.post(
        f"/console/subscribers/{ann}/resubscribe",
        data={"csrf_token": token, "consent": "asked by phone on 2 Dec"},
    )
    assert "Subscribed again" in back.text
    with session_scope() as session:
        history = session.scalars(
            select(StatusChange).where(StatusChange.subscriber_id == ann).order_by(StatusChange.id)
        ).all()
        assert [h.status for h in history] == ["active", "unsubscribed", "active"]
        assert history[1].source == f"console: {ORGANISER}"
        assert history[2].consent_source is not None
        assert "asked by phone on 2 Dec" in history[2].consent_source

    wrong = client.post(
        f"/console/subscribers/{ann}/erase",
        data={"csrf_token": token, "confirm_email": "someone@else.org"},
    )
    assert wrong.status_code == 400 and _status("ann.lee@durham.gov.uk") == "active"
    erased = client.post(
        f"/console/subscribers/{ann}/erase",
        data={"csrf_token": token, "confirm_email": "ann.lee@durham.gov.uk"},
    )
    assert erased.status_code == 200 and "Subscriber erased" in erased.text
    assert _status("ann.lee@durham.gov.uk") is None
    with session_scope() as session:
        left = session.scalar(
            select(func.count()).select_from(StatusChange).where(StatusChange.subscriber_id == ann)
        )
        assert left == 0


def test_erasure_keeps_an_anonymised_delivery_count(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    add_subscribers(4)
    transport.fail("reader2@example.org", 550, "5.1.1 reader2@example.org unknown")
    send_id = send_now(store_update(future_update_md()), ["dcs"])
    reader = _id("reader2@example.org")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["subscribers", "erase", "reader2@example.org"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    result = runner.invoke(cli_app, ["subscribers", "erase", "reader2@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 delivery kept anonymised" in result.output
    with session_scope() as session:
        c = counts(session, send_id)
        assert (c.planned, c.sent, c.failed) == (4, 3, 1)  # the send's counts are unchanged
        orphan = session.scalars(
            select(Delivery).where(Delivery.send_id == send_id, Delivery.subscriber_id.is_(None))
        ).one()
        assert orphan.error is not None and "reader2@example.org" not in orphan.error
        assert session.get(Subscriber, reader) is None
        # The suppression keeps the address from ever being mailed again.
        assert session.scalars(
            select(Suppression).where(Suppression.email_key == "reader2@example.org")
        ).one()


def test_cli_show_edit_unsubscribe_resubscribe(
    client: TestClient, organiser: str, transport: InMemoryTransport
) -> None:
    add_subscribers(2)
    send_now(store_update(future_update_md()), ["dcs"])
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["subscribers", "show", "reader0@example.org", "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["email"] == "reader0@example.org"
    assert record["history"][0]["consent_source"] == "test"
    assert [s["status"] for s in record["sends"]] == ["sent"]
    text = runner.invoke(cli_app, ["subscribers", "show", str(record["id"])])
    assert "Status history:" in text.output and "Sends received (1):" in text.output

    edit = runner.invoke(
        cli_app, ["subscribers", "edit", "reader0@example.org", "--name", "Reader Zero"]
    )
    assert edit.exit_code == 0 and "Saved" in edit.output
    out = runner.invoke(cli_app, ["subscribers", "unsubscribe", "reader0@example.org"])
    assert out.exit_code == 0 and _status("reader0@example.org") == "unsubscribed"
    no_consent = runner.invoke(
        cli_app, ["subscribers", "resubscribe", "reader0@example.org", "--consent", ""]
    )
    assert no_consent.exit_code == 2 and "consent" in no_consent.output
    back = runner.invoke(
        cli_app,
        ["subscribers", "resubscribe", "reader0@example.org", "--consent", "email of 2 Dec"],
    )
    assert back.exit_code == 0 and _status("reader0@example.org") == "active"
    missing = runner.invoke(cli_app, ["subscribers", "show", "nobody@example.org"])
    assert missing.exit_code == 2 and "no subscriber" in missing.output


def test_api_record_and_actions(
    client: TestClient, api_token: str, transport: InMemoryTransport
) -> None:
    add_subscribers(1)
    send_now(store_update(future_update_md()), ["dcs"])
    headers = {"Authorization": f"Bearer {api_token}"}
    reader = _id("reader0@example.org")
    record = client.get(f"/api/v1/subscribers/{reader}", headers=headers).json()
    assert record["sends"][0]["status"] == "sent" and record["history"][0]["status"] == "active"
    patched = client.patch(
        f"/api/v1/subscribers/{reader}", headers=headers, json={"organisation": "Gateshead"}
    )
    assert patched.status_code == 200 and patched.json()["organisation"] == "Gateshead"
    bad = client.patch(f"/api/v1/subscribers/{reader}", headers=headers, json={"email": "nope"})
    assert bad.status_code == 422
    out = client.post(f"/api/v1/subscribers/{reader}/unsubscribe", headers=headers)
    assert out.json()["status"] == "unsubscribed"
    refused = client.post(
        f"/api/v1/subscribers/{reader}/resubscribe", headers=headers, json={"consent": ""}
    )
    assert refused.status_code == 422
    back = client.post(
        f"/api/v1/subscribers/{reader}/resubscribe",
        headers=headers,
        json={"consent": "asked again by email"},
    )
    assert back.json()["status"] == "active"
    erased = client.delete(f"/api/v1/subscribers/{reader}", headers=headers)
    assert erased.json() == {"erased": reader, "deliveries_kept_anonymised": 1}
    assert client.get(f"/api/v1/subscribers/{reader}", headers=headers).status_code == 404


def test_imports_write_the_history(database_url: str, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text("email,name,status\nnew@x.org,New,\nleaver@x.org,Leaver,\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli_app, ["subscribers", "import", str(first)]).exit_code == 0
    second = tmp_path / "second.csv"
    second.write_text("email,name,status\nleaver@x.org,Leaver,unsubscribed\n", encoding="utf-8")
    assert runner.invoke(cli_app, ["subscribers", "import", str(second)]).exit_code == 0
    with session_scope() as session:
        rows = session.execute(
            select(
                Subscriber.email_key,
                StatusChange.status,
                StatusChange.previous,
                StatusChange.source,
            )
            .join(StatusChange, StatusChange.subscriber_id == Subscriber.id)
            .order_by(StatusChange.id)
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("new@x.org", "active", None),
        ("leaver@x.org", "active", None),
        ("leaver@x.org", "unsubscribed", "active"),
    ]
    assert (rows[0][3], rows[2][3]) == ("import:first.csv", "import:second.csv")
