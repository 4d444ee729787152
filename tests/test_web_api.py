"""The REST API under /api/v1: bearer tokens, every console action, the OpenAPI document."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import (
    ORGANISER,
    add_subscribers,
    api_token,
    app,
    client,
    future_update_md,
    organiser,
    store_update,
    transport,
)

from newsletter.db import session_scope
from newsletter.dispatch.embedded import run_until_idle
from newsletter.models import ApiToken
from newsletter.organisers import token_hash
from newsletter.transports.memory import InMemoryTransport

__all__ = ["api_token", "app", "client", "organiser", "transport"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_stored_hashed_and_required(client: TestClient, api_token: str) -> None:
    with session_scope() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_hash == token_hash(api_token)
        assert api_token not in stored.token_hash
    assert client.get("/api/v1/updates").status_code == 401
    assert client.get("/api/v1/updates").headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/v1/updates", headers=_auth(api_token + "x")).status_code == 401
    assert client.get("/api/v1/updates", headers={"Authorization": api_token}).status_code == 401
    assert client.get("/api/v1/updates", headers=_auth(api_token)).json() == []
    with session_scope() as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


def test_openapi_document(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    assert all(path.startswith("/api/v1/") for path in paths)
    for expected in (
        "/api/v1/updates",
        "/api/v1/updates/{update_id}/preview/{segment}",
        "/api/v1/events/{event_id}",
        "/api/v1/subscribers",
        "/api/v1/subscribers/import",
        "/api/v1/segments/count",
        "/api/v1/sends",
        "/api/v1/sends/{send_id}/pause",
        "/api/v1/suppressions",
    ):
        assert expected in paths
    assert "SendIn" in document["components"]["schemas"]


def test_update_preview_and_event_correction(client: TestClient, api_token: str) -> None:
    headers = _auth(api_token)
    created = client.post(
        "/api/v1/updates", json={"text": future_update_md(), "source_name": "u.md"}, headers=headers
    )
    assert created.status_code == 201, created.text
    update = created.json()
    assert update["title"] == "North East Update"
    [event] = update["events"]
    assert event["featured"] is True

    preview = client.get(f"/api/v1/updates/{update['id']}/preview/lead-member", headers=headers)
    body = preview.json()
    assert body["segment"] == "lead-member" and "%%NL_" not in body["html"] + body["text"]
    # A segment's label is what its edition calls it, in the preview as in the message.
    labelled = client.post(
        "/api/v1/segments",
        json={"name": "nt-staff", "rule": "role:dcs", "label": "North Tyneside leadership team"},
        headers=headers,
    )
    assert labelled.status_code == 201, labelled.text
    named = client.get(f"/api/v1/updates/{update['id']}/preview/nt-staff", headers=headers).json()
    assert named["segment_name"] == "North Tyneside leadership team"
    assert "North Tyneside leadership team" in named["text"]

    patched = client.patch(
        f"/api/v1/events/{event['id']}", json={"location": "Sunderland"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json()["location"] == "Sunderland"
    assert patched.json()["changed"] == ["location"]
    assert (
        client.patch(
            f"/api/v1/events/{event['id']}", json={"start": "never"}, headers=headers
        ).status_code
        == 422
    )
    # Titles and venues go into notice subjects and calendar lines: one line, or 422.
    for field, value in (("title", "Meeting\r\nBcc: all@example.org"), ("location", "A\nB"),
                         ("title", "   ")):  # fmt: skip
        refused = client.patch(
            f"/api/v1/events/{event['id']}", json={field: value}, headers=headers
        )
        assert refused.status_code == 422, (field, value, refused.text)
        assert field in refused.json()["detail"]
    assert client.get("/api/v1/updates/999", headers=headers).status_code == 404
    bad = client.post("/api/v1/updates", json={"text": ""}, headers=headers)
    assert bad.status_code == 422


def test_subscribers_segments_suppressions(client: TestClient, api_token: str) -> None:
    headers = _auth(api_token)
    made = client.post(
        "/api/v1/subscribers",
        json={"email": "Ann@Example.org", "name": "Ann", "roles": ["Lead Member"]},
        headers=headers,
    )
    assert made.status_code == 200
    assert made.json()["roles"] == ["lead-member"] and made.json()["status"] == "active"
    assert (
        client.post("/api/v1/subscribers", json={"email": "nope"}, headers=headers).status_code
        == 422
    )

    report = client.post(
        "/api/v1/subscribers/import",
        content=b"email,name\nbob@example.org,Bob\nbroken,Nobody\n",
        headers={**headers, "Content-Type": "text/csv"},
    ).json()
    assert report["created"] == 1 and report["rejected"][0]["line"] == 3

    page = client.get("/api/v1/subscribers?limit=1", headers=headers).json()
    assert len(page["items"]) == 1 and page["next_after"] == page["items"][0]["id"]
    rest = client.get(f"/api/v1/subscribers?after={page['next_after']}", headers=headers).json()
    assert [s["email"] for s in rest["items"]] == ["bob@example.org"]
    assert rest["next_after"] is None

    response = client.get("/api/v1/subscribers/export", headers=headers)
    assert response.headers["cache-control"] == "no-store"  # personal data: no cache keeps it
    assert client.get("/api/v1/sends", headers=headers).headers["cache-control"] == "no-store"
    exported = response.text
    assert {r["email"] for r in csv.DictReader(io.StringIO(exported))} == {
        "Ann@example.org",  # email-validator lower-cases the domain
        "bob@example.org",
    }

    count = client.post(
        "/api/v1/segments/count", json={"rule": "role:lead-member"}, headers=headers
    )
    assert count.json() == {"count": 1}
    error = client.post("/api/v1/segments/count", json={"rule": "role:"}, headers=headers)
    assert error.status_code == 422 and error.json()["detail"]["position"] >= 1
    segment = client.post(
        "/api/v1/segments", json={"name": "members", "rule": "role:lead-member"}, headers=headers
    )
    assert segment.status_code == 201 and segment.json()["count"] == 1
    assert segment.json()["public"] is False  # new segments' feeds are private
    published = client.patch("/api/v1/segments/members", json={"public": True}, headers=headers)
    assert published.status_code == 200 and published.json()["public"] is True
    missing = client.patch("/api/v1/segments/nope", json={"public": True}, headers=headers)
    assert missing.status_code == 404
    names = [s["name"] for s in client.get("/api/v1/segments", headers=headers).json()]
    assert "members" in names and "dcs" in names
    assert client.delete("/api/v1/segments/members", headers=headers).status_code == 204
    assert client.delete("/api/v1/segments/dcs", headers=headers).status_code == 409

    row = client.post(
        "/api/v1/suppressions", json={"email": "x@example.org"}, headers=headers
    ).json()
    assert [r["email"] for r in client.get("/api/v1/suppressions", headers=headers).json()] == [
        "x@example.org"
    ]
    assert client.delete(f"/api/v1/suppressions/{row['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/suppressions/{row['id']}", headers=headers).status_code == 404


def test_sends_lifecycle(client: TestClient, api_token: str, transport: InMemoryTransport) -> None:
    headers = _auth(api_token)
    add_subscribers(3)
    update_id = client.post(
        "/api/v1/updates", json={"text": future_update_md()}, headers=headers
    ).json()["id"]

    proof = client.post("/api/v1/sends/test", json={"update_id": update_id}, headers=headers)
    assert proof.status_code == 200 and proof.json()["to"] == ORGANISER
    assert transport.parsed()[0]["Subject"].startswith("[Test] ")
    transport.clear()

    later = client.post(
        "/api/v1/sends",
        json={"update_id": update_id, "segments": ["dcs"], "at": "2099-06-01 09:00"},
        headers=headers,
    ).json()
    assert later["status"] == "scheduled"
    assert later["scheduled_at"].startswith("2099-06-01T08:00")  # BST is UTC+1
    sid = later["id"]
    assert client.post(f"/api/v1/sends/{sid}/pause", headers=headers).json()["status"] == "paused"
    assert client.post(f"/api/v1/sends/{sid}/pause", headers=headers).status_code == 409
    assert client.post(f"/api/v1/sends/{sid}/resume", headers=headers).json()["status"] == (
        "scheduled"
    )
    assert client.post(f"/api/v1/sends/{sid}/cancel", headers=headers).json()["status"] == (
        "cancelled"
    )

    now = client.post(
        "/api/v1/sends", json={"update_id": update_id, "segments": ["dcs"]}, headers=headers
    )
    assert now.status_code == 201
    run_until_idle()
    final = client.get(f"/api/v1/sends/{now.json()['id']}", headers=headers).json()
    assert final["status"] == "finished"
    assert (final["planned"], final["sent"], final["failed"], final["skipped"]) == (3, 3, 0, 0)
    assert final["timeline"]["sent"][-1] == 3
    assert len(transport.messages) == 3
    listed = client.get("/api/v1/sends", headers=headers).json()
    assert [s["id"] for s in listed][:2] == [now.json()["id"], sid]
    assert (
        client.post(
            "/api/v1/sends", json={"update_id": update_id, "segments": ["nope"]}, headers=headers
        ).status_code
        == 422
    )
    assert client.get("/api/v1/sends/999", headers=headers).status_code == 404


def test_cli_users_add_and_token(client: TestClient) -> None:
    from typer.testing import CliRunner

    from newsletter.cli.web_cmds import users_app

    runner = CliRunner()
    added = runner.invoke(users_app, ["add", "Lead@Example.org", "--password", "long enough pw"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(users_app, ["add", "lead@example.org", "--password", "long enough pw"])
    assert again.exit_code == 2 and "already exists" in again.output
    short = runner.invoke(users_app, ["add", "b@example.org"], input="short\nshort\n")
    assert short.exit_code == 2 and "at least" in short.output
    issued = runner.invoke(users_app, ["token", "lead@example.org"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert token.startswith("nlt_")
    assert client.get("/api/v1/sends", headers=_auth(token)).status_code == 200
    revoked = runner.invoke(users_app, ["token", "lead@example.org", "--revoke-others"])
    assert client.get("/api/v1/sends", headers=_auth(token)).status_code == 401
    assert client.get("/api/v1/sends", headers=_auth(revoked.stdout.strip())).status_code == 200
    assert runner.invoke(users_app, ["token", "nobody@example.org"]).exit_code == 2
    listing = runner.invoke(users_app, ["list"])
    assert "lead@example.org" in listing.stdout


def test_invalid_bodies_answer_422_json(client: TestClient, api_token: str) -> None:
    response = client.post("/api/v1/sends", json={"segments": "dcs"}, headers=_auth(api_token))
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert ("body", "update_id") in fields


def test_send_review_past_times_send_now_reschedule_and_test_list(
    client: TestClient, api_token: str, transport: InMemoryTransport
) -> None:
    headers = _auth(api_token)
    add_subscribers(3)
    update_id = store_update(future_update_md())
    body = {"update_id": update_id, "segments": ["dcs", "lead-member"]}
    review = client.post("/api/v1/sends/review", json=body, headers=headers).json()
    assert (review["total"], review["when"]) == (3, "now")
    assert [(e["segment"], e["recipients"]) for e in review["editions"]] == [
        ("dcs", 3),
        ("lead-member", 0),
    ]
    past = client.post("/api/v1/sends", json={**body, "at": "2020-01-01 09:00"}, headers=headers)
    assert past.status_code == 422 and "has already passed" in past.json()["detail"]
    later = client.post("/api/v1/sends", json={**body, "at": "2099-01-01 09:00"}, headers=headers)
    send_id = later.json()["id"]
    moved = client.post(
        f"/api/v1/sends/{send_id}/reschedule", json={"at": "2099-05-01 08:00"}, headers=headers
    )
    assert moved.json()["scheduled_at_uk"] == "Fri 1 May 2099, 08:00 UK"
    refused = client.post(
        f"/api/v1/sends/{send_id}/reschedule", json={"at": "2001-05-01 08:00"}, headers=headers
    )
    assert refused.status_code == 422
    client.post(f"/api/v1/sends/{send_id}/send-now", headers=headers)
    run_until_idle()
    assert client.get(f"/api/v1/sends/{send_id}", headers=headers).json()["sent"] == 3
    again = client.post(f"/api/v1/sends/{send_id}/send-now", headers=headers)
    assert again.status_code == 409
    copies = client.post(
        "/api/v1/sends/test",
        json={"update_id": update_id, "emails": ["a@x.org", "b@x.org"]},
        headers=headers,
    ).json()
    assert [c["to"] for c in copies["sent"]] == ["a@x.org", "b@x.org"]


def test_corrections_of_what_ingest_understood(client: TestClient, api_token: str) -> None:
    auth = _auth(api_token)
    text = "South West Update – Financial Year 2019/20\n\nBudgets\n\nPositions were shared.\n"
    created = client.post(
        "/api/v1/updates", json={"text": text, "source_name": "sw.txt"}, headers=auth
    )
    assert created.status_code == 201, created.text
    update_id = created.json()["id"]
    assert created.json()["period_label"] == "Financial year 2019/20"
    put = client.put(
        f"/api/v1/updates/{update_id}/sections/1/audiences",
        json={"audiences": ["workforce-lead"]},
        headers=auth,
    )
    assert put.status_code == 200, put.text
    assert put.json()["sections"][0]["audiences"] == ["dcs", "workforce-lead"]
    patched = client.patch(
        f"/api/v1/updates/{update_id}", json={"period": "Q2 2019/20"}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["period"], patched.json()["period_end"]) == ("2019-07", "2019-09")
    history = client.get(f"/api/v1/updates/{update_id}/history", headers=auth).json()
    assert [(h["field"], h["actor"]) for h in history] == [
        ("section 1 audiences (Budgets)", ORGANISER),
        ("period", ORGANISER),
    ]
    bad = [
        client.put(
            f"/api/v1/updates/{update_id}/sections/5/audiences",
            json={"audiences": []},
            headers=auth,
        ),
        client.patch(f"/api/v1/updates/{update_id}", json={"period": "soon"}, headers=auth),
        client.patch(f"/api/v1/updates/{update_id}", json={"title": " "}, headers=auth),
    ]
    assert [r.status_code for r in bad] == [422, 422, 422]
    assert client.patch("/api/v1/updates/999", json={}, headers=auth).status_code == 404
    assert client.get("/api/v1/updates/999/history", headers=auth).status_code == 404
