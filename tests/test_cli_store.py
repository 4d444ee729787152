"""The store CLI as a new user meets it: init, config, subscribers and segments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


def test_init_is_idempotent(database_url: str) -> None:
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["init"])
    assert second.exit_code == 0
    assert "up to date" in second.stdout


def test_config_masks_secrets(monkeypatch: object, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": "super-secret-value",
        "NEWSLETTER_SMTP_URL": "smtp://user:hunter2@mail.example.org:587",
    }
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "config", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    values = json.loads(result.stdout)
    assert values["secret_key"] == "****"
    assert values["smtp_url"] == "smtp://user:****@mail.example.org:587"
    assert "super-secret-value" not in result.stdout and "hunter2" not in result.stdout
    assert values["timezone"] == "Europe/London"
    assert values["database_url"] == os.environ["NEWSLETTER_DATABASE_URL"]


def test_subscriber_commands(database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "subscribers", "add", "Ann@Durham.gov.uk", "--name", "Ann", "--org", "Durham",
            "--region", "North East", "--role", "DCS", "--role", "Lead Member",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["subscribers", "add", "ann@durham.gov.uk"])
    assert again.exit_code == 2 and "already subscribed" in again.stderr
    show = ["subscribers", "show", "ann@durham.gov.uk", "--json"]
    shown = json.loads(runner.invoke(app, show).stdout)
    assert shown["roles"] == ["dcs", "lead-member"] and shown["status"] == "active"
    bad = runner.invoke(app, ["subscribers", "add", "nobody"])
    assert bad.exit_code == 2 and "email" in bad.stderr
    # Erasing is irreversible: without a terminal it needs --yes.
    unconfirmed = runner.invoke(app, ["subscribers", "remove", "ann@durham.gov.uk"])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert (
        runner.invoke(app, ["subscribers", "remove", "ann@durham.gov.uk", "--yes"]).exit_code == 0
    )
    missing = runner.invoke(app, ["subscribers", "show", "ann@durham.gov.uk"])
    assert missing.exit_code == 2 and "no subscriber" in missing.stderr


def test_piped_tables_are_whole_and_tab_separated(database_url: str) -> None:
    long_address = "jo.subscriber.with.a.very.long.address@gateshead.gov.uk"
    for email, name, region in (
        (long_address, "Jo " + "Longname " * 8, "North East"),
        ("al@x.org", "Al", "Tyne"),
    ):
        args = ["subscribers", "add", email, "--name", name.strip(), "--org", "Gateshead Council"]
        assert runner.invoke(app, [*args, "--region", region]).exit_code == 0
    listed = runner.invoke(app, ["subscribers", "list"], env={"COLUMNS": "40"})
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["email", "name", "organisation", "region", "roles", "status"]
    assert any(line.startswith(long_address + "\t") for line in lines)
    assert "…" not in listed.stdout
    assert all(len(line.split("\t")) == 6 for line in lines)
    added = runner.invoke(app, ["segments", "add", "gh", "--rule", "organisation:Gateshead*"])
    assert "2 active subscribers" in added.stdout
    one = runner.invoke(app, ["segments", "add", "tyne", "--rule", "region:Tyne"])
    assert "tyne created: 1 active subscriber." in one.stdout


def test_segment_commands(database_url: str) -> None:
    for email, role, region in [
        ("a@x.org", "DCS", "North East"),
        ("b@x.org", "Lead Member", "North East"),
        ("c@x.org", "DCS", "North West"),
        ("d@x.org", "Workforce Lead", "North East"),
    ]:
        args = ["subscribers", "add", email, "--role", role, "--region", region]
        assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, ["segments", "count", "dcs"]).stdout == "2\n"
    rule = '(role:dcs or role:lead-member) and region:"North East"'
    assert runner.invoke(app, ["segments", "add", "ne-leaders", "--rule", rule]).exit_code == 0
    assert runner.invoke(app, ["segments", "count", "ne-leaders"]).stdout == "2\n"
    bad = runner.invoke(app, ["segments", "add", "bad", "--rule", "role:dcs and (region:x"])
    assert bad.exit_code != 0
    assert "position 23" in bad.stderr
    listed = json.loads(runner.invoke(app, ["segments", "list", "--json"]).stdout)
    assert {s["name"]: s["count"] for s in listed}["ne-leaders"] == 2
    assert runner.invoke(app, ["segments", "remove", "ne-leaders"]).exit_code == 0
    assert runner.invoke(app, ["segments", "count", "ne-leaders"]).exit_code == 2


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("newsletter")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "subscribers" in result.stdout and "segments" in result.stdout
