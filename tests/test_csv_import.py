"""CSV import and export through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.subscriber_csv import import_csv

runner = CliRunner()

MIXED = """email,name,organisation,region,roles,status,phone
ann@durham.gov.uk,Ann,Durham,North East,DCS,,0191
bob@gateshead.gov.uk,Bob,Gateshead,North East,Lead Member;Workforce Lead,,
not-an-email,Bad,Durham,North East,DCS,,
cat@sunderland.gov.uk,Cat,Sunderland,North East,Director of Children's Services,active,
,Empty,Durham,North East,DCS,,
dan@leeds.gov.uk,Dan,Leeds,Yorkshire,dcs,,
eve@durham.gov.uk,Eve,Durham,North East,Workforce Lead,sleepy,
fay@newcastle.gov.uk,Fay,Newcastle,North East,lead member,,
"""


def _list(database_url: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["subscribers", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_import_reports_bad_lines_and_is_idempotent(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(MIXED, encoding="utf-8")
    first = runner.invoke(app, ["subscribers", "import", str(path)])
    assert first.exit_code == 1
    assert "line 4: email:" in first.stderr
    assert "line 6: email: is empty" in first.stderr
    assert "line 8: status: unknown status 'sleepy'" in first.stderr
    assert "line 2" not in first.stderr
    people = _list(database_url)
    assert len(people) == 5
    before = {p["email"]: p for p in people}
    assert before["bob@gateshead.gov.uk"]["roles"] == ["lead-member", "workforce-lead"]
    assert before["cat@sunderland.gov.uk"]["roles"] == ["dcs"]
    assert all(p["status"] == "active" for p in people)
    assert {k: before["ann@durham.gov.uk"][k] for k in ("name", "organisation", "region")} == {
        "name": "Ann",
        "organisation": "Durham",
        "region": "North East",
    }

    second = runner.invoke(app, ["subscribers", "import", str(path)])
    assert second.exit_code == 1
    assert "0 added, 0 updated, 5 unchanged, 3 rejected" in second.stdout
    assert {p["email"]: p for p in _list(database_url)} == before

    count = runner.invoke(app, ["segments", "count", "dcs"])
    assert count.stdout.strip() == "3"


def test_strict_stores_nothing(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(MIXED, encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", "--strict", str(path)])
    assert result.exit_code == 1
    assert "Nothing stored" in result.stdout
    assert _list(database_url) == []


def test_all_good_exits_zero_and_pending_flag(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_text("email,roles\nx@a.org,DCS\ny@a.org,\n", encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", "--pending", str(path)])
    assert result.exit_code == 0, result.output
    assert {p["status"] for p in _list(database_url)} == {"pending"}


def test_line_numbers_count_multiline_fields_and_blank_lines(session: Session) -> None:
    # A free attribute may span lines (names and organisations may not: one line each).
    text = 'email,notes\na@b.org,"two\nlines"\n\nbad,x\nc@d.org,"x"\n'
    report = import_csv(session, text, source="t.csv")
    assert [str(r) for r in report.rejected] == [
        "line 5: email: 'bad' is not a valid address: An email address must have an @-sign."
    ]
    assert report.result.created == 2


def test_duplicate_address_in_one_file_names_both_lines(session: Session) -> None:
    report = import_csv(session, "email\na@b.org\nA@B.org\n", source="t.csv")
    assert [str(r) for r in report.rejected] == ["line 3: email: A@b.org already appears on line 2"]


def test_file_level_errors_are_clear(database_url: str, tmp_path: Path) -> None:
    no_email = tmp_path / "no_email.csv"
    no_email.write_text("name,roles\nAnn,DCS\n", encoding="utf-8")
    result = runner.invoke(app, ["subscribers", "import", str(no_email)])
    assert result.exit_code == 2
    assert "no 'email' column" in result.stderr and "no_email.csv" in result.stderr
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"email\x00\x01\x02")
    result = runner.invoke(app, ["subscribers", "import", str(binary)])
    assert result.exit_code == 2 and "binary" in result.stderr


def test_export_round_trips(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(MIXED, encoding="utf-8")
    runner.invoke(app, ["subscribers", "import", str(path)])
    out = tmp_path / "export.csv"
    result = runner.invoke(app, ["subscribers", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["email", "name", "organisation", "region", "roles", "status", "phone"]
    by_email = {r["email"]: r for r in rows}
    assert by_email["bob@gateshead.gov.uk"]["roles"] == "lead-member;workforce-lead"
    assert by_email["ann@durham.gov.uk"]["phone"] == "0191"
    again = runner.invoke(app, ["subscribers", "import", str(out)])
    assert again.exit_code == 0
    assert "0 added, 0 updated, 5 unchanged, 0 rejected" in again.stdout
