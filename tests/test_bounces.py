"""Bounce intake: VERP, RFC 3464 DSNs (hard/soft), RFC 5965 complaints, garbage, sources."""

from __future__ import annotations

import email
import json
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest
from bounce_messages import add_subscriber, arf, dsn, qmail_bounce, send_to
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.bounces import handle_webhook, ingest_message, ingest_path
from newsletter.bounces.models import BounceEvent, BounceSetAside
from newsletter.bounces.sources import parse_mailbox_url
from newsletter.bounces.verp import delivery_from_verp, verp_address
from newsletter.cli.bounce_cmds import bounces_app
from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.models import Subscriber, Suppression, utcnow


def suppressed(session: Session) -> dict[str, str]:
    return {s.email_key: s.reason for s in session.scalars(select(Suppression))}


def status_of(session: Session, subscriber: Subscriber) -> str:
    session.expire_all()
    return session.scalars(select(Subscriber.status).where(Subscriber.id == subscriber.id)).one()


# --- VERP ------------------------------------------------------------------------


def test_verp_round_trip_and_forgery() -> None:
    settings = Settings(secret_key="k1", from_address="News <updates@News.Example.org>")
    address = verp_address(123456, settings)
    local, domain = address.split("@")
    assert domain == "news.example.org"
    assert local.startswith("bounces+123456.") and len(local) <= 64
    assert delivery_from_verp(address, settings) == 123456
    assert delivery_from_verp(address.upper(), settings) == 123456  # relays may change case
    assert delivery_from_verp(f"Bounces <{address}>", settings) == 123456
    tag = local.split(".")[1]
    forged = f"bounces+123457.{tag}@{domain}"
    assert delivery_from_verp(forged, settings) is None
    assert delivery_from_verp(address, Settings(secret_key="k2")) is None
    assert delivery_from_verp(address.replace(domain, "other.example"), settings) is None
    for junk in ("", "bounces@news.example.org", "not an address", "a@b, c@d"):
        assert delivery_from_verp(junk, settings) is None
    custom = Settings(secret_key="k1", bounce_domain="bounce.example.net")
    assert verp_address(5, custom).endswith("@bounce.example.net")


# --- DSNs ------------------------------------------------------------------------


@pytest.mark.parametrize("returned", ["headers", "message", "none"])
def test_hard_bounce_suppresses_and_names_delivery(session: Session, returned: str) -> None:
    jane = add_subscriber(session, "Jane@Council.example")
    other = add_subscriber(session, "other@council.example")
    delivery, sent = send_to(session, jane)
    other_delivery, _ = send_to(session, other)
    result = ingest_message(session, dsn(sent, recipient="jane@council.example", returned=returned))
    assert result.outcome == "hard"
    assert (result.delivery_id, result.send_id) == (delivery.id, delivery.send_id)
    assert result.status == "5.1.1" and result.suppressed
    assert f"delivery {delivery.id}" in result.reason
    assert status_of(session, jane) == "bounced"
    assert status_of(session, other) == "active"
    assert suppressed(session) == {"jane@council.example": "hard-bounce"}
    event = session.scalars(select(BounceEvent)).one()
    assert (event.kind, event.delivery_id, event.send_id) == ("hard", delivery.id, delivery.send_id)
    assert other_delivery.id != delivery.id


def test_verp_maps_to_exactly_one_delivery_even_if_recipient_differs(session: Session) -> None:
    """A forwarded address bounces: the VERP token, not the recipient text, decides."""
    jane = add_subscriber(session, "jane@council.example")
    john = add_subscriber(session, "john@council.example")
    delivery, sent = send_to(session, jane)
    send_to(session, john)
    raw = dsn(sent, recipient="jane.smith@forwarded.example", returned="none")
    result = ingest_message(session, raw)
    assert result.outcome == "hard" and result.delivery_id == delivery.id
    assert suppressed(session) == {"jane@council.example": "hard-bounce"}


def test_message_id_maps_when_bounce_went_to_from_address(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    without_verp = sent.split(b"\r\n", 1)[1]  # no Return-Path in the returned headers
    raw = dsn(without_verp, recipient="jane@council.example", envelope_to="updates@x.example")
    result = ingest_message(session, raw)
    assert result.outcome == "hard" and result.delivery_id == delivery.id
    assert "message-id" in result.reason


def test_ambiguous_and_forged_are_set_aside(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    john = add_subscriber(session, "john@council.example")
    d1, sent = send_to(session, jane)
    d2, _ = send_to(session, john)
    two = dsn(sent, recipient="jane@council.example", envelope_to=verp_address(d2.id))
    result = ingest_message(session, two)
    assert result.outcome == "set-aside" and result.reason == "ambiguous"
    # A forged VERP tag and an unsigned delivery header naming someone else.
    forged_to = verp_address(d1.id).replace("bounces+", "bounces+9")
    headers = f"X-Newsletter-Delivery: {d1.id}\r\nSubject: x\r\n\r\n".encode()
    forged = dsn(headers, recipient="attacker@evil.example", envelope_to=forged_to)
    assert ingest_message(session, forged).outcome == "set-aside"
    assert suppressed(session) == {}
    assert {status_of(session, jane), status_of(session, john)} == {"active"}


def test_soft_bounces_suppress_after_three_deliveries_in_window(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    now = utcnow()
    results = []
    for day in (0, 2, 3):
        _, sent = send_to(session, jane)
        raw = dsn(sent, recipient=jane.email, status="4.2.2", diagnostic="452 4.2.2 full")
        # The same delivery's "delayed" warning counts once, not twice.
        delayed = dsn(sent, recipient=jane.email, status="4.4.1", action="delayed", returned="none")
        ingest_message(session, delayed, now=now + timedelta(days=day))
        results.append(ingest_message(session, raw, now=now + timedelta(days=day, hours=1)))
    assert [r.outcome for r in results] == ["soft"] * 3
    assert [r.suppressed for r in results] == [False, False, True]
    assert "3 of 3 in 14 days" in results[2].reason
    assert suppressed(session) == {"jane@council.example": "soft-bounces"}
    assert status_of(session, jane) == "bounced"


def test_soft_bounces_outside_window_do_not_count(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    now = utcnow()
    outcomes = []
    for day in (0, 10, 20, 30):
        _, sent = send_to(session, jane)
        raw = dsn(sent, recipient=jane.email, status="4.2.2", diagnostic="452 full")
        outcomes.append(ingest_message(session, raw, now=now + timedelta(days=day)).suppressed)
    assert outcomes == [False, False, False, False]
    assert suppressed(session) == {}
    assert status_of(session, jane) == "active"


def test_success_dsn_is_ignored(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    _, sent = send_to(session, jane)
    raw = dsn(sent, recipient=jane.email, status="2.0.0", action="delivered", diagnostic="250 ok")
    result = ingest_message(session, raw)
    assert result.outcome == "ignored" and not result.suppressed
    assert suppressed(session) == {}


def test_non_standard_bounce_via_flufl(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, _ = send_to(session, jane)
    result = ingest_message(session, qmail_bounce(jane.email, verp_address(delivery.id)))
    assert result.outcome == "hard" and result.delivery_id == delivery.id
    assert result.status == "5.0.0"
    assert suppressed(session) == {"jane@council.example": "hard-bounce"}


def test_same_report_twice_is_recorded_once(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    raw = dsn(sent, recipient=jane.email, status="4.2.2", diagnostic="452 full")
    first = ingest_message(session, raw)
    second = ingest_message(session, raw)
    assert (first.outcome, second.outcome) == ("soft", "duplicate")
    assert second.delivery_id == delivery.id
    assert session.scalar(select(func.count(BounceEvent.id))) == 1


# --- complaints ---------------------------------------------------------------------


def test_arf_complaint_unsubscribes_and_suppresses(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    raw = arf(sent, mail_from=verp_address(delivery.id))
    result = ingest_message(session, raw)
    assert result.outcome == "complaint" and result.suppressed
    assert (result.delivery_id, result.send_id) == (delivery.id, delivery.send_id)
    assert status_of(session, jane) == "complained"
    assert suppressed(session) == {"jane@council.example": "complaint"}


def test_arf_without_verp_maps_by_message_id(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    without_return_path = sent.split(b"\r\n", 1)[1]
    result = ingest_message(session, arf(without_return_path, mail_from=None))
    assert result.outcome == "complaint" and result.delivery_id == delivery.id


def test_arf_not_spam_ignored_and_other_types_set_aside(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    verp = verp_address(delivery.id)
    assert ingest_message(session, arf(sent, feedback_type="not-spam", mail_from=verp)).outcome == (
        "ignored"
    )
    virus = ingest_message(session, arf(sent, feedback_type="virus", mail_from=verp))
    assert virus.outcome == "set-aside" and virus.reason == "feedback type not acted on"
    broken = ingest_message(session, arf(sent, user_agent=None, mail_from=verp))
    assert broken.outcome == "set-aside" and broken.reason == "malformed feedback report"
    assert suppressed(session) == {}
    assert status_of(session, jane) == "active"


# --- garbage ---------------------------------------------------------------------------


GARBAGE = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "no headers": b"\r\n\r\njust a body",
    "not a report": b"From: jane@council.example\r\nTo: updates@newsletter.example.org\r\n"
    b"Subject: Thanks\r\n\r\nThanks for the update.\r\n",
    "truncated report": b"From: MAILER-DAEMON@x\r\nContent-Type: multipart/report; "
    b'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx',
    "status without recipients": b"From: MAILER-DAEMON@x\r\nContent-Type: multipart/report; "
    b'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: '
    b"message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n--b--\r\n",
    "bad header bytes": b"From: \xff\xfe\x00\r\n"
    b"Content-Type: multipart/report; boundary=\r\n\r\n\x00",
}


def test_garbled_messages_are_kept_aside_and_never_suppress(session: Session) -> None:
    add_subscriber(session, "jane@council.example")
    results = {name: ingest_message(session, raw, source=name) for name, raw in GARBAGE.items()}
    assert {name: r.outcome for name, r in results.items()} == dict.fromkeys(GARBAGE, "set-aside")
    assert results["not a report"].reason == "not a bounce or complaint"
    assert results["status without recipients"].reason == "malformed delivery status notification"
    rows = session.scalars(select(BounceSetAside)).all()
    assert len(rows) == len(GARBAGE)
    assert all(r.reason for r in rows)
    assert {bytes(r.raw) for r in rows} == set(GARBAGE.values())
    assert suppressed(session) == {}
    # Kept aside once however often it is read.
    again = ingest_message(session, GARBAGE["binary"])
    assert again.set_aside_id == results["binary"].set_aside_id
    assert session.scalar(select(func.count(BounceSetAside.id))) == len(GARBAGE)


def test_auto_replies_are_recognised_and_ignored(session: Session) -> None:
    """RFC 3834: an out-of-office answer is neither a bounce nor kept aside for a person."""
    add_subscriber(session, "jane@council.example")
    raw = (
        b"From: jane@council.example\r\nTo: updates@newsletter.example.org\r\n"
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway until Monday.\r\n"
    )
    result = ingest_message(session, raw, source="oof")
    assert result.outcome == "auto-reply" and "Auto-Submitted: auto-replied" in result.reason
    assert session.scalar(select(func.count(BounceSetAside.id))) == 0
    assert suppressed(session) == {}


def test_bounce_for_unknown_delivery_is_kept_aside(session: Session) -> None:
    raw = dsn(None, recipient="x@council.example", envelope_to=verp_address(999_999))
    result = ingest_message(session, raw)
    assert result.outcome == "set-aside" and result.reason == "unknown delivery"


# --- sources ---------------------------------------------------------------------------


def _three_bounces(engine: Engine) -> tuple[list[bytes], list[int]]:
    with session_scope(engine) as session:
        raws, ids = [], []
        for name in ("a", "b"):
            sub = add_subscriber(session, f"{name}@council.example")
            delivery, sent = send_to(session, sub)
            raws.append(dsn(sent, recipient=sub.email))
            ids.append(delivery.id)
    return [*raws, GARBAGE["not a report"]], ids


def test_maildir_mbox_and_eml_intake(engine: Engine, tmp_path: Path) -> None:
    raws, ids = _three_bounces(engine)
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    mbox = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    for raw in raws:
        maildir.add(raw)
        mbox.add(raw)
    mbox.flush()
    eml_dir = tmp_path / "eml"
    eml_dir.mkdir()
    for index, raw in enumerate(raws):
        (eml_dir / f"{index}.eml").write_bytes(raw)

    first = ingest_path(tmp_path / "Maildir", engine=engine)
    assert sorted(r.outcome for r in first) == ["hard", "hard", "set-aside"]
    assert sorted(r.delivery_id for r in first if r.delivery_id) == sorted(ids)
    for path in (tmp_path / "bounces.mbox", eml_dir, eml_dir / "0.eml"):
        again = ingest_path(path, engine=engine)
        assert {r.outcome for r in again} <= {"duplicate", "set-aside"}
        assert len(again) == (1 if path.suffix == ".eml" else 3)
    with session_scope(engine) as session:
        assert set(suppressed(session)) == {"a@council.example", "b@council.example"}
    with pytest.raises(FileNotFoundError):
        ingest_path(tmp_path / "missing", engine=engine)


def test_cli_ingest(engine: Engine, tmp_path: Path) -> None:
    raws, ids = _three_bounces(engine)
    folder = tmp_path / "eml"
    folder.mkdir()
    for index, raw in enumerate(raws):
        (folder / f"{index}.eml").write_bytes(raw)
    result = CliRunner().invoke(bounces_app, ["ingest", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["outcome"] for r in rows] == ["hard", "hard", "set-aside"]
    assert [r["delivery_id"] for r in rows[:2]] == ids


def test_webhook(session: Session) -> None:
    jane = add_subscriber(session, "jane@council.example")
    delivery, sent = send_to(session, jane)
    raw = dsn(sent, recipient=jane.email, status="4.2.2", diagnostic="452 full")
    result = handle_webhook(session, raw, "message/rfc822")
    assert result.outcome == "soft" and result.delivery_id == delivery.id
    complaint = arf(sent, mail_from=verp_address(delivery.id))
    body = json.dumps({"message": complaint.decode("ascii")}).encode()
    assert handle_webhook(session, body, "application/json; charset=utf-8").outcome == "complaint"
    assert handle_webhook(session, b"{", "application/json").outcome == "set-aside"
    assert handle_webhook(session, b"[]", "application/json").reason == "webhook: no message"
    assert handle_webhook(session, b"<x/>", "text/xml").outcome == "set-aside"


def test_mailbox_url_parsing() -> None:
    box = parse_mailbox_url("imaps://bounce%40x.org:p%3Ass@mail.x.org/Bounces")
    assert (box.protocol, box.tls, box.port, box.username, box.password, box.folder) == (
        "imap",
        True,
        993,
        "bounce@x.org",
        "p:ss",
        "Bounces",
    )
    assert parse_mailbox_url("pop3://u:p@h:1100").port == 1100
    assert parse_mailbox_url("imap://u@h").folder == "INBOX"
    for bad in ("smtp://u@h", "imap://h", "imap:///x"):
        with pytest.raises(ValueError):
            parse_mailbox_url(bad)


def test_returned_message_is_parsed_by_email_package() -> None:
    """The builders make what real MTAs send: the report parses as multipart/report."""
    message = email.message_from_bytes(dsn(None, recipient="x@y.example", envelope_to="a@b"))
    assert message.get_content_type() == "multipart/report"
    assert [p.get_content_type() for p in message.get_payload()] == [  # type: ignore[union-attr]
        "text/plain",
        "message/delivery-status",
    ]
