"""Organiser corrections of what ingest understood: kept in place, recorded in the history,
refused whole when wrong — through the library, the CLI and the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner
from web_fixtures import ORGANISER, app, client, csrf, login, organiser, transport

from newsletter import corrections, updates
from newsletter.cli import app as cli_app
from newsletter.corrections import CorrectionError
from newsletter.events.changes import edit_event
from newsletter.ingest import parse_file
from newsletter.migrate import alembic_config, upgrade_to_head
from newsletter.models import Base
from newsletter.render.sections import build_edition

__all__ = ["app", "client", "organiser", "transport"]

CORPUS = Path(__file__).resolve().parent / "data" / "updates"
runner = CliRunner()


def stored(session: Session, name: str = "south-west-fy-2019-20.txt") -> int:
    record = updates.store_update(session, parse_file(CORPUS / name).update, source_name=name)
    return record.id


def test_section_audiences_are_kept_and_recorded(session: Session) -> None:
    update_id = stored(session)
    change = corrections.section_audiences(
        session, update_id, 2, ["workforce-lead", "dcs", "workforce-lead"], actor="ann@example.org"
    )
    assert change is not None
    assert (change.before, change.after) == ("dcs", "dcs, workforce-lead")
    # Saying the same again changes and records nothing.
    assert (
        corrections.section_audiences(
            session, update_id, 2, ["workforce-lead"], actor="ann@example.org"
        )
        is None
    )
    session.expire_all()
    update = updates.load_update(session, update_id)
    assert [s.audiences for s in update.sections] == [["dcs"], ["dcs", "workforce-lead"]]
    edition = build_edition(update, "workforce-lead")
    assert [g.sections[0].heading for g in edition.groups] == ["Budgets", "Annual Conference"]
    [entry] = corrections.history(session, update_id)
    assert (entry.field, entry.before, entry.after, entry.actor) == (
        "section 2 audiences (Budgets)",
        "dcs",
        "dcs, workforce-lead",
        "ann@example.org",
    )


def test_title_region_and_period_corrections(session: Session) -> None:
    update_id = stored(session, "east-of-england-undated.txt")
    changes = corrections.correct_update(
        session, update_id, actor="cli", title="East of England Update Spring 2019",
        region="eastern region", period="Spring 2019",
    )  # fmt: skip
    # "eastern region" is a spelling of the region ingest already found: no change.
    assert [c.field for c in changes] == ["title", "period"]
    record = updates.get_record(session, update_id)
    assert (record.region, record.period, record.period_end, record.period_label) == (
        "East of England",
        "2019-03",
        "2019-05",
        "Spring 2019",
    )
    assert updates.to_content(record).to_json()["period_label"] == "Spring 2019"
    corrections.correct_update(session, update_id, actor="cli", period="2019-04", region="none")
    assert (record.period, record.period_end, record.region) == ("2019-04", "2019-04", None)
    assert [c.after for c in corrections.history(session, update_id)][-2:] == ["", "April 2019"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"section": 9, "audiences": ["dcs"]}, "has sections 1 to 2, not 9"),
        ({"section": 1, "audiences": ["nobody"]}, "there is no segment 'nobody'"),
    ],
)
def test_bad_audience_corrections_change_nothing(
    session: Session, kwargs: dict[str, object], message: str
) -> None:
    update_id = stored(session)
    with pytest.raises(CorrectionError, match=message):
        corrections.section_audiences(session, update_id, actor="x", **kwargs)  # type: ignore[arg-type]
    assert corrections.history(session, update_id) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("title", "  ", "title: a title cannot be empty"), ("period", "soon", "period: cannot read")],
)
def test_bad_update_corrections_change_nothing(
    session: Session, field: str, value: str, message: str
) -> None:
    update_id = stored(session)
    with pytest.raises(CorrectionError, match=message):
        corrections.correct_update(session, update_id, actor="x", **{field: value})
    record = updates.get_record(session, update_id)
    assert (record.title, record.period) == (
        "South West Update – Financial Year 2019/20",
        "2019-04",
    )
    assert corrections.history(session, update_id) == []


def test_naming_a_featured_event_clears_its_needs_a_title_mark(session: Session) -> None:
    record = updates.store_update(
        session,
        parse_file(CORPUS / "../../../newsletter/data/samples/north-east-2017-04.txt").update,
    )
    [event] = record.events
    assert event.needs_title is True
    edit_event(session, event.id, title="Regional Safeguarding Conference")
    assert event.needs_title is False
    assert updates.event_from_record(event).to_json()["needs_title"] is False


def test_migrations_build_the_models_schema_and_go_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
        command.upgrade(config, "head")


def test_cli_audiences_correct_and_history(database_url: str) -> None:
    del database_url
    result = runner.invoke(cli_app, ["ingest", str(CORPUS / "south-west-fy-2019-20.txt")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli_app, ["updates", "audiences", "1", "--section", "2", "--set", "dcs,workforce-lead"]
    )
    assert result.exit_code == 0, result.output
    assert "section 2 audiences (Budgets): dcs → dcs, workforce-lead" in result.stdout
    bad = runner.invoke(cli_app, ["updates", "audiences", "1", "--section", "3", "--set", "dcs"])
    assert bad.exit_code == 2
    assert "has sections 1 to 2, not 3" in bad.output
    result = runner.invoke(cli_app, ["updates", "correct", "1", "--period", "Q2 2019/20"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli_app, ["updates", "show", "1"])
    assert "2. Budgets  for: dcs, workforce-lead" in shown.stdout
    assert "Quarter 2 2019/20" in shown.stdout
    assert "command line: period: Financial year 2019/20 → Quarter 2 2019/20" in shown.stdout


def test_console_corrections_and_bad_input(client: TestClient, organiser: str) -> None:
    login(client)
    token = csrf(client, "/console/updates")
    sample = CORPUS / "south-west-fy-2019-20.txt"
    response = client.post(
        "/console/updates",
        data={"csrf_token": token, "fmt": "auto"},
        files={"file": (sample.name, sample.read_bytes(), "text/plain")},
    )
    assert response.status_code == 201, response.text
    assert 'name="audiences" value="workforce-lead"' in response.text
    saved = client.post(
        "/console/updates/1/sections/2/audiences",
        data={"csrf_token": token, "audiences": ["workforce-lead"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("&segment=workforce-lead#preview")
    page = client.get(saved.headers["location"].split("#")[0])
    assert 'src="/console/updates/1/preview/workforce-lead.html"' in page.text
    assert f"{ORGANISER} · section 2 audiences (Budgets)" in page.text
    refusals: list[tuple[str, dict[str, Any]]] = [
        ("/console/updates/1/sections/7/audiences", {"audiences": ["dcs"]}),
        ("/console/updates/1/sections/1/audiences", {"audiences": ["<nobody>"]}),
        ("/console/updates/1/correct", {"title": "", "period": "whenever"}),
    ]
    for path, data in refusals:
        refused = client.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 400, path
        assert 'class="alert error"' in refused.text
    assert (
        client.post(
            "/console/updates/99/sections/1/audiences", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/console/updates/1/sections/x/audiences", data={"csrf_token": token}
        ).status_code
        == 422
    )
    assert client.post("/console/updates/1/correct", data={"title": "X"}).status_code == 403
    # A featured event the site printed without a title is marked until it is named.
    sample = (
        Path(__file__).resolve().parent.parent / "newsletter/data/samples/north-east-2017-04.txt"
    )
    marked = client.post(
        "/console/updates",
        data={"csrf_token": token, "fmt": "auto"},
        files={"file": (sample.name, sample.read_bytes(), "text/plain")},
    )
    assert '<span class="mark needs-title">needs a title</span>' in marked.text
    fixed = client.post(
        "/console/updates/1/correct",
        data={
            "csrf_token": token,
            "title": "South West Update",
            "region": "SW",
            "period": "Q2 2019/20",
        },
        follow_redirects=True,
    )
    assert fixed.status_code == 200
    assert "South West · Quarter 2 2019/20" in fixed.text
