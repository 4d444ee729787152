"""Reading calendar replies, recognising auto-replies and unsubscribe requests, CSV export."""

from __future__ import annotations

import csv
import email
import io
from datetime import UTC, datetime

import pytest
from rsvp_messages import apple_reply, gmail_reply, out_of_office, outlook_reply

from newsletter.bounces.requests import auto_reply_reason, unsubscribe_tokens
from newsletter.events.replies import (
    Attendee,
    ReplyRejected,
    attendees_csv,
    find_reply_calendar,
    parse_reply,
)

STAMP = datetime(2030, 1, 2, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "address", "partstat"),
    [
        (outlook_reply("u@x", "Jo@Example.org", "Jo", "DECLINED", STAMP), "Jo@Example.org",
         "DECLINED"),
        (gmail_reply("u@x", "jo@example.org", "Jo", "ACCEPTED", STAMP), "jo@example.org",
         "ACCEPTED"),
        (apple_reply("u@x", "jo@example.org", "Jo", "TENTATIVE", STAMP), "jo@example.org",
         "TENTATIVE"),
    ],
    ids=["outlook", "gmail", "apple"],
)  # fmt: skip
def test_each_client_reply_is_read(raw: bytes, address: str, partstat: str) -> None:
    data = find_reply_calendar(email.message_from_bytes(raw))
    assert data is not None
    reply = parse_reply(data)
    assert (reply.uid, reply.attendee, reply.partstat, reply.stamp) == (
        "u@x", address, partstat, STAMP,
    )  # fmt: skip


def _calendar(body: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + body + "END:VCALENDAR\r\n").encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\n", "not a calendar reply"),
        ("METHOD:REPLY\r\n", "calendar reply without an event"),
        ("METHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@x\r\nEND:VEVENT\r\n",
         "calendar reply without a UID"),
        ("METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:1\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@x\r\n"
         "ATTENDEE;PARTSTAT=ACCEPTED:mailto:b@x\r\nEND:VEVENT\r\n",
         "calendar reply must name exactly one attendee"),
        ("METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:1\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:a@x\r\n"
         "END:VEVENT\r\n", "unsupported reply status"),
    ],
)  # fmt: skip
def test_replies_that_cannot_be_recorded_say_why(body: str, reason: str) -> None:
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(_calendar(body))
    assert caught.value.reason == reason


def test_auto_replies_are_recognised_and_requests_are_not() -> None:
    oof = email.message_from_bytes(out_of_office("a@x.org", "Update"))
    assert auto_reply_reason(oof) == "Auto-Submitted: auto-replied"
    vacation = email.message_from_bytes(b"X-Autoreply: yes\r\nSubject: away\r\n\r\nAway\r\n")
    assert auto_reply_reason(vacation) == "X-Autoreply header"
    person = email.message_from_bytes(b"Auto-Submitted: no\r\nSubject: hi\r\n\r\nhello\r\n")
    assert auto_reply_reason(person) is None


def test_only_a_stated_request_counts_as_an_unsubscribe_token() -> None:
    token = "A" * 44
    quoted = (
        f"Subject: Re: Update\r\n\r\n> Unsubscribe: https://x.org/u/{token}\r\n"
        f"> unsubscribe here https://x.org/u/{token}\r\n"
    ).encode()
    assert unsubscribe_tokens(email.message_from_bytes(quoted)) == []
    stated = f"Subject: unsubscribe {token}\r\n\r\nunsubscribe {'B' * 44}\r\n".encode()
    assert unsubscribe_tokens(email.message_from_bytes(stated)) == [token, "B" * 44]


def test_csv_export_neutralises_formulas() -> None:
    people = [
        Attendee(1, "=HYPERLINK(\"http://evil\")", "a@x.org", "+Council", "accepted", STAMP,
                 "@SUM(A1)"),
        Attendee(2, "Plain Name", "b@x.org", "-", "no reply", None, ""),
    ]  # fmt: skip
    rows = list(csv.reader(io.StringIO(attendees_csv(people))))
    assert rows[1][0] == '\'=HYPERLINK("http://evil")'
    assert rows[1][2] == "'+Council" and rows[1][5] == "'@SUM(A1)"
    assert rows[1][4] == STAMP.isoformat()
    assert rows[2] == ["Plain Name", "b@x.org", "'-", "no reply", "", ""]
