"""Segment display names and descriptions: set in the CLI, console and API, used in emails."""

from __future__ import annotations

import json
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import (
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

from newsletter import segments
from newsletter.cli import app as cli_app
from newsletter.db import session_scope
from newsletter.models import SendEdition
from newsletter.transports.memory import InMemoryTransport

__all__ = ["api_token", "app", "client", "organiser", "transport"]
runner = CliRunner()


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_label_from_cli_is_the_name_in_emails(
    client: TestClient, transport: InMemoryTransport
) -> None:
    add_subscribers(2)
    made = runner.invoke(
        cli_app, ["segments", "add", "ne-leaders", "--rule", "role:dcs", "--description", "x"]
    )
    assert made.exit_code == 0, made.output
    shown = json.loads(runner.invoke(cli_app, ["segments", "show", "ne-leaders", "--json"]).stdout)
    assert shown["label"] == "Ne leaders"  # made from the slug until one is given
    edited = runner.invoke(
        cli_app,
        [
            "segments",
            "edit",
            "ne-leaders",
            "--label",
            "North East leaders",
            "--description",
            "DCSs",
        ],
    )
    assert edited.exit_code == 0 and "'North East leaders'" in edited.stdout
    listed = {
        s["name"]: s
        for s in json.loads(runner.invoke(cli_app, ["segments", "list", "--json"]).stdout)
    }
    assert (listed["ne-leaders"]["label"], listed["ne-leaders"]["description"]) == (
        "North East leaders",
        "DCSs",
    )
    # Built-ins keep their one definition unless an organiser names them.
    assert listed["lead-member"]["label"] == "Lead members"
    send_id = send_now(store_update(future_update_md()), ["ne-leaders"])
    with session_scope() as session:
        edition = session.scalars(select(SendEdition).where(SendEdition.send_id == send_id)).one()
        assert edition.segment_name == "North East leaders"
    texts = [_text(m) for m in transport.parsed()]
    assert len(texts) == 2
    assert all("North East leaders" in t and "Ne leaders" not in t for t in texts)
    bad = runner.invoke(cli_app, ["segments", "edit", "ne-leaders", "--label", "a\nb"])
    assert bad.exit_code == 2 and "label" in bad.stderr


def test_console_and_api_edit_labels(client: TestClient, organiser: str, api_token: str) -> None:
    login(client)
    token = csrf(client, "/console/segments")
    client.post(
        "/console/segments",
        data={"csrf_token": token, "name": "gh", "rule": "role:dcs", "label": "Gateshead team"},
    )
    page = client.get("/console/segments")
    assert "<strong>Gateshead team</strong>" in page.text
    client.post(
        "/console/segments/dcs/describe",
        data={"csrf_token": token, "label": "Directors", "description": "Every DCS"},
    )
    with session_scope() as session:
        dcs = segments.get(session, "dcs")
        assert (segments.display_name(dcs), dcs.description) == ("Directors", "Every DCS")
    assert (
        client.post(
            "/console/segments/nope/describe", data={"csrf_token": token, "label": "x"}
        ).status_code
        == 404
    )
    headers = {"Authorization": f"Bearer {api_token}"}
    patched = client.patch("/api/v1/segments/gh", json={"label": ""}, headers=headers)
    assert patched.status_code == 200 and patched.json()["label"] == "Gh"
    assert (
        client.patch("/api/v1/segments/zz", json={"label": "x"}, headers=headers).status_code == 404
    )
