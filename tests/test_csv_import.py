"""CSV import and export through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

from celery_harness import wait_for
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import subscribers
from newsletter.cli import app
from newsletter.db import engine_for, session_scope
from newsletter.models import StatusChange, Subscriber, SubscriberRole
from newsletter.subscriber_csv import import_csv
from newsletter.subscribers import UpsertResult

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


def test_names_and_organisations_are_single_short_lines(session: Session) -> None:
    long_name = "N" * 201
    text = (
        "email,name,organisation\n"
        'a@b.org,"Ann\nBcc: x@evil.example",Durham\n'
        f"b@b.org,{long_name},Durham\n"
        'c@b.org,Cat,"Durham\rCouncil"\n'
        "d@b.org,Dan,Durham\n"
    )
    report = import_csv(session, text, source="t.csv")
    assert [str(r) for r in report.rejected] == [
        "line 2: name: must be a single line of text (it contains a line break)",
        "line 4: name: is 201 characters long; at most 200 are allowed",
        "line 5: organisation: must be a single line of text (it contains a line break)",
    ]
    assert report.result.created == 1


OPTED_OUT = "email,name,organisation,roles,status\ngone@b.org,Gone,Durham,DCS,unsubscribed\n"


def test_opted_out_rows_are_skipped_and_left_alone(database_url: str, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(OPTED_OUT, encoding="utf-8")
    assert runner.invoke(app, ["subscribers", "import", str(first)]).exit_code == 0
    again = tmp_path / "again.csv"
    again.write_text(
        "email,name,organisation,roles\nGONE@b.org,New Name,Leeds,Lead Member\nnew@b.org,New,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["subscribers", "import", str(again)])
    assert result.exit_code == 0, result.output
    assert "1 added, 0 updated, 0 unchanged, 0 rejected, 1 skipped (opted out" in result.stdout
    assert "line 2: gone@b.org has opted out; row skipped" in result.stderr.replace("GONE", "gone")
    people = {p["email"]: p for p in _list(database_url)}
    gone = people["gone@b.org"]
    assert (gone["name"], gone["organisation"], gone["roles"], gone["status"]) == (
        "Gone",
        "Durham",
        ["dcs"],
        "unsubscribed",
    )

    # With --update-opted-out the details change, never the opt-out.
    resubscribe = tmp_path / "resubscribe.csv"
    resubscribe.write_text(
        "email,name,organisation,roles,status\ngone@b.org,New Name,Leeds,Lead Member,active\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["subscribers", "import", "--update-opted-out", str(resubscribe)])
    assert result.exit_code == 0, result.output
    assert "0 added, 1 updated" in result.stdout
    assert "does not resubscribe" in result.stderr
    gone = {p["email"]: p for p in _list(database_url)}["gone@b.org"]
    assert (gone["name"], gone["organisation"], gone["roles"], gone["status"]) == (
        "New Name",
        "Leeds",
        ["lead-member"],
        "unsubscribed",
    )


def test_reimport_updates_changed_rows_only(session: Session) -> None:
    first = "email,name,roles,status,team\na@b.org,Ann,DCS,,red\nb@b.org,Bob,DCS,pending,\n"
    assert import_csv(session, first, source="t.csv").result.created == 2
    changed = (
        "email,name,roles,status,team\n"
        "a@b.org,Ann,DCS;Lead Member,,blue\n"  # roles and attribute change
        "b@b.org,Bob,DCS,active,\n"  # pending -> active (confirmed now)
        "c@b.org,Cat,,unsubscribed,\n"  # new and opted out from the start
    )
    report = import_csv(session, changed, source="t.csv")
    result = report.result
    assert (result.created, result.updated, result.unchanged) == (1, 2, 0)
    session.commit()
    people = {s.email: s for s in subscribers.iter_all(session)}
    assert people["a@b.org"].role_names == ["dcs", "lead-member"]
    assert people["a@b.org"].attributes == {"team": "blue"}
    assert people["b@b.org"].status == "active" and people["b@b.org"].confirmed_at is not None
    assert people["c@b.org"].status == "unsubscribed"
    assert people["c@b.org"].unsubscribed_at is not None
    again = import_csv(session, changed, source="t.csv").result
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert again.skipped_opted_out == [2]


def test_export_streams_in_pages(session: Session) -> None:
    from newsletter.subscriber_csv import EXPORT_CHUNK_ROWS, export_chunks, export_csv

    count = 2 * EXPORT_CHUNK_ROWS + 5
    lines = ["email,roles,team"] + [f"p{i}@b.org,DCS;Lead Member,t{i % 3}" for i in range(count)]
    assert import_csv(session, "\n".join(lines) + "\n", source="t.csv").result.created == count
    session.commit()
    chunks = list(export_chunks(session))
    assert len(chunks) == 3  # header + 1000 rows, 1000 rows, the last 5
    whole = io.StringIO()
    assert export_csv(session, whole) == count
    assert "".join(chunks) == whole.getvalue()
    rows = list(csv.DictReader(io.StringIO(whole.getvalue())))
    assert [r["email"] for r in rows] == [f"p{i}@b.org" for i in range(count)]
    assert rows[7] == {
        "email": "p7@b.org",
        "name": "",
        "organisation": "",
        "region": "",
        "roles": "dcs;lead-member",
        "status": "active",
        "team": "t1",
    }


def test_concurrent_imports_of_the_same_new_addresses_both_succeed(postgres_url: str) -> None:
    """Two organisers import overlapping new lists at once (PostgreSQL): neither fails.

    The first import is held open after storing its rows; the second must wait
    for it (it is seen waiting on a lock), then find those addresses existing
    and update them, instead of failing on the unique address.
    """
    engine = engine_for(postgres_url)
    with session_scope(engine) as session:
        session.execute(text("TRUNCATE subscribers RESTART IDENTITY CASCADE"))
    header = "email,name,organisation,region,roles\n"
    first = header + "".join(f"p{i}@durham.gov.uk,P {i},Durham,North East,DCS\n" for i in range(50))
    second = header + "".join(
        f"p{i}@durham.gov.uk,Person {i},Durham,North East,Lead Member\n" for i in range(25, 75)
    )
    stored = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def import_and_hold() -> None:
        with session_scope(engine) as session:
            outcome["first"] = import_csv(session, first, source="first.csv").result.created
            stored.set()
            release.wait(timeout=60)

    def import_second() -> None:
        try:
            with session_scope(engine) as session:
                outcome["second"] = import_csv(session, second, source="second.csv").result
        except Exception as exc:  # reported below, with the failure itself
            outcome["second"] = exc

    holder = threading.Thread(target=import_and_hold)
    holder.start()
    assert stored.wait(timeout=60)
    other = threading.Thread(target=import_second)
    other.start()

    def second_waits_on_a_lock() -> bool:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return bool(waiting)

    wait_for(second_waits_on_a_lock, timeout=30, what="the second import to wait for the first")
    release.set()
    holder.join(timeout=60)
    other.join(timeout=60)
    assert outcome["first"] == 50
    result = outcome["second"]
    assert isinstance(result, UpsertResult), result
    assert (result.created, result.updated) == (25, 25)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 75
        updated = subscribers.find(session, "p30@durham.gov.uk")
        assert (updated.name, updated.role_names) == ("Person 30", ["lead-member"])


# Imports on PostgreSQL store batches while reading the next; batch_rows=2 makes
# several batches of a short file.  On SQLite the same calls read every row first.


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


def test_strict_import_with_a_bad_row_in_the_last_batch_stores_nothing(engine: Engine) -> None:
    good = "".join(f"p{i}@b.org,P {i},DCS\n" for i in range(7))
    text_ = "email,name,roles\n" + good + "bad-address,Bad,DCS\n"
    with session_scope(engine) as session:
        report = import_csv(session, text_, source="t.csv", strict=True, batch_rows=2)
        assert not report.stored and report.rows == 8
        assert [str(r) for r in report.rejected] == [
            "line 9: email: 'bad-address' is not a valid address: "
            "An email address must have an @-sign."
        ]
    with session_scope(engine) as session:
        assert _count(session) == 0
        assert session.scalar(select(func.count()).select_from(StatusChange)) == 0
        assert session.scalar(select(func.count()).select_from(SubscriberRole)) == 0


def test_batches_store_every_good_row_with_roles_history_and_line_numbers(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        session.add(Subscriber(email="gone@b.org", email_key="gone@b.org", status="unsubscribed"))
    rows = [f"p{i}@b.org,P {i},DCS;Lead Member,\n" for i in range(5)]
    rows.insert(1, "not-an-address,X,DCS,\n")  # line 3, in the first batch
    rows.insert(4, "gone@b.org,Back,DCS,active\n")  # line 6, in the second batch
    text_ = "email,name,roles,status\n" + "".join(rows)
    with session_scope(engine) as session:
        report = import_csv(session, text_, source="t.csv", batch_rows=2)
        assert report.stored and report.rows == 7
        assert [r.line for r in report.rejected] == [3]
        assert report.result.created == 5
        assert report.warnings == [
            "line 6: gone@b.org has opted out; row skipped and their details left as they are"
        ]
    with session_scope(engine) as session:
        gone = subscribers.find(session, "gone@b.org")
        assert (gone.status, gone.name, gone.role_names) == ("unsubscribed", "", [])
        people = {s.email: s for s in subscribers.iter_all(session)}
        assert sorted(people) == ["gone@b.org"] + [f"p{i}@b.org" for i in range(5)]
        for i in range(5):
            assert people[f"p{i}@b.org"].role_names == ["dcs", "lead-member"]
        history = session.execute(
            select(Subscriber.email, StatusChange.status, StatusChange.consent_source).join(
                StatusChange, StatusChange.subscriber_id == Subscriber.id
            )
        ).all()
        assert sorted(history) == [(f"p{i}@b.org", "active", "import:t.csv") for i in range(5)]


def test_opted_out_address_in_a_later_batch_is_not_resubscribed(engine: Engine) -> None:
    first = "email,status\n" + "".join(f"p{i}@b.org,\n" for i in range(4))
    first += "late@b.org,unsubscribed\n"
    with session_scope(engine) as session:
        assert import_csv(session, first, source="t.csv").result.created == 5
    again = "email,name,status\n" + "".join(f"p{i}@b.org,P {i},active\n" for i in range(4))
    again += "late@b.org,Late,active\n"  # line 6: the third batch of two rows
    with session_scope(engine) as session:
        report = import_csv(session, again, source="t.csv", update_opted_out=True, batch_rows=2)
        assert (report.result.updated, report.result.kept_opted_out) == (5, [4])
        assert report.warnings == [
            "line 6: late@b.org has opted out; import does not resubscribe (status kept)"
        ]
    with session_scope(engine) as session:
        late = subscribers.find(session, "late@b.org")
        assert (late.status, late.name) == ("unsubscribed", "Late")


def test_values_with_backslashes_tabs_and_line_breaks_are_stored_as_written(
    session: Session,
) -> None:
    text_ = 'email,name,notes\na@b.org,Back\\slash,"tab\there\nand a line\\n"\n'
    report = import_csv(session, text_, source="t.csv")
    assert report.ok and report.result.created == 1
    session.commit()
    stored = subscribers.find(session, "a@b.org")
    assert stored.name == "Back\\slash"
    assert stored.attributes == {"notes": "tab\there\nand a line\\n"}
