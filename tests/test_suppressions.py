"""The suppression list: add/list/remove with reason and date, and the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli.bounce_cmds import suppressions_app
from newsletter.db import session_scope
from newsletter.models import utcnow
from newsletter.subscribers import SubscriberError
from newsletter.suppressions import (
    add_suppression,
    is_suppressed,
    list_suppressions,
    remove_suppression,
)


def test_add_list_remove(session: Session) -> None:
    before = utcnow()
    entry, created = add_suppression(session, " Jane@Council.Example ", "manual", "asked by phone")
    assert created and entry.email == "jane@council.example"
    assert (entry.reason, entry.detail) == ("manual", "asked by phone")
    assert entry.created_at >= before.replace(microsecond=0)
    again, created_again = add_suppression(session, "JANE@council.example", "complaint")
    assert not created_again and again.reason == "manual"  # first reason kept
    add_suppression(session, "john@council.example", "hard-bounce", "5.1.1")
    assert [e.email for e in list_suppressions(session)] == [
        "john@council.example",
        "jane@council.example",
    ]
    assert [e.email for e in list_suppressions(session, reason="hard-bounce")] == [
        "john@council.example"
    ]
    assert is_suppressed(session, ["Jane@council.example", "x@y.example"]) == {
        "jane@council.example"
    }
    assert remove_suppression(session, "jane@COUNCIL.example")
    assert not remove_suppression(session, "jane@council.example")
    assert [e.email for e in list_suppressions(session)] == ["john@council.example"]


def test_bad_input(session: Session) -> None:
    with pytest.raises(SubscriberError):
        add_suppression(session, "not an address")
    with pytest.raises(ValueError, match="reason"):
        add_suppression(session, "a@b.example", "  ")


def test_cli(engine: Engine) -> None:
    runner = CliRunner()
    added = runner.invoke(
        suppressions_app, ["add", "jane@council.example", "--reason", "manual", "--detail", "x"]
    )
    assert added.exit_code == 0, added.output
    assert "suppressed" in added.output
    listed = runner.invoke(suppressions_app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["email"], r["reason"], r["detail"]) for r in rows] == [
        ("jane@council.example", "manual", "x")
    ]
    assert rows[0]["created_at"].startswith(str(utcnow().year))
    table = runner.invoke(suppressions_app, ["list"])
    assert "jane@council.example" in table.output
    assert runner.invoke(suppressions_app, ["remove", "jane@council.example"]).exit_code == 0
    assert runner.invoke(suppressions_app, ["remove", "jane@council.example"]).exit_code == 1
    bad = runner.invoke(suppressions_app, ["add", "nonsense"])
    assert bad.exit_code == 2
    with session_scope(engine) as session:
        assert list_suppressions(session) == []
