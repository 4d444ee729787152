"""Message assembly: parse every message produced and check structure, headers and bodies."""

from __future__ import annotations

import binascii
import email
import email.policy
import re
from collections.abc import Callable
from email.header import decode_header
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.message import (
    HeaderInjectionError,
    MessageError,
    MessageTemplate,
    Recipient,
    RecipientSuppressedError,
)
from newsletter.message.bodies import encode_qp
from newsletter.parts import GREETING, PREFERENCES_URL, UNSUBSCRIBE_URL, CalendarPart
from newsletter.parts import RenderedEdition as Edition
from newsletter.tokens import UNSUBSCRIBE, read_token

SETTINGS = Settings(
    secret_key="message-test-secret",
    base_url="https://news.example.org",
    from_address="North East Network <updates@mail.example.org>",
    list_id="north-east.mail.example.org",
)

HTML = (
    '<!DOCTYPE html>\n<html lang="en-GB"><body>\n<p>{g}</p>\n<p>Café news: £5 — '
    + "long paragraph " * 40
    + '</p>\n<p><a href="{u}">Unsubscribe</a> | <a href="{p}">Preferences</a></p>\n'
    "<p>Again: {u}</p></body></html>\n"
).format(g=GREETING, u=UNSUBSCRIBE_URL, p=PREFERENCES_URL)
TEXT = (
    f"{GREETING}\n\nCafé news: £5 — the update.\n. a line starting with a dot\n"
    f"From here on\nUnsubscribe: {UNSUBSCRIBE_URL}\nPreferences: {PREFERENCES_URL}\n"
)


def edition(
    html: str = HTML, text: str = TEXT, subject: str = "Regional update — April"
) -> Edition:
    return Edition(
        update_id=7,
        segment="dcs",
        segment_name="Directors of Children's Services",
        subject=subject,
        preheader="What's new",
        html=html,
        text=text,
    )


def ics(method: str, uid: str = "event-1@mail.example.org") -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260301T090000Z",
        "DTSTART:20260401T090000Z",
        "DTEND:20260401T100000Z",
        "SUMMARY:Regional DCS meeting at the Café",
        "ORGANIZER;CN=Network:mailto:updates@mail.example.org",
        "SEQUENCE:0",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def recipient(
    n: int = 1, name: str | None = "Jane Smith", email_address: str | None = None
) -> Recipient:
    return Recipient.for_subscriber(
        email_address or f"person{n}@example.org", name, n, 1000 + n, send_id=3, settings=SETTINGS
    )


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def structure(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def text_of(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert isinstance(body, EmailMessage)
    content = body.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def build(parts: list[CalendarPart] | None = None, **kwargs: object) -> MessageTemplate:
    return MessageTemplate.build(edition(), parts or [], settings=SETTINGS, **kwargs)  # type: ignore[arg-type]


def assert_wire_format(data: bytes) -> None:
    """CRLF only, 7-bit, lines within RFC 5322 limits (78 recommended for the body)."""
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 78 for line in body.split(b"\r\n")), "body line too long"


def test_without_events_is_multipart_alternative() -> None:
    data = build().personalise(recipient())
    assert_wire_format(data)
    message = parse(data)
    assert structure(message) == ["multipart/alternative", "text/plain", "text/html"]
    for part in message.iter_parts():
        assert part.get_content_charset() == "utf-8"
    assert message["MIME-Version"] == "1.0"


def test_headers() -> None:
    r = recipient(5)
    out = build().outgoing(r)
    message = parse(out.data)
    assert message["From"].addresses[0].addr_spec == "updates@mail.example.org"
    assert message["To"].addresses[0].addr_spec == "person5@example.org"
    assert message["To"].addresses[0].display_name == "Jane Smith"
    assert message["Subject"] == "Regional update — April"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@mail\.example\.org>", message["Message-ID"])
    assert message["Message-ID"] == out.message_id
    assert message["List-Id"].endswith("<north-east.mail.example.org>")
    assert message["Feedback-ID"] == "7:dcs:newsletter:mail.example.org"
    assert message["X-Newsletter-Delivery"] == "1005"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # RFC 8058 / RFC 2369: <https://…>, <mailto:…>, HTTPS first.
    unsubscribe = " ".join(str(message["List-Unsubscribe"]).split())
    assert unsubscribe == f"<{r.unsubscribe_url}>, <{r.mailto_unsubscribe}>"
    token = r.unsubscribe_url.rsplit("/", 1)[1]
    assert read_token(token, UNSUBSCRIBE, secret=SETTINGS.secret_key).subject_id == 5
    assert out.envelope_from == "updates@mail.example.org"
    assert out.recipients == ("person5@example.org",)
    assert out.delivery_id == 1005
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert len(message.get_all(name) or []) == 1, name


def test_reply_to_and_no_mailto() -> None:
    s = SETTINGS.model_copy(update={"reply_to": "Office <office@example.org>"})
    r = Recipient(
        email="a@example.org",
        name=None,
        subscriber_id=1,
        delivery_id=None,
        unsubscribe_url="https://news.example.org/u/abc",
        preferences_url="https://news.example.org/preferences/def",
        mailto_unsubscribe=None,
    )
    message = parse(MessageTemplate.build(edition(), [], settings=s).personalise(r))
    assert message["Reply-To"].addresses[0].addr_spec == "office@example.org"
    assert str(message["List-Unsubscribe"]) == "<https://news.example.org/u/abc>"
    assert message["X-Newsletter-Delivery"] is None
    assert message["To"].addresses[0].display_name == ""


def test_placeholders_replaced_in_both_parts() -> None:
    r = recipient(2)
    message = parse(build().personalise(r))
    text, html = text_of(message, "plain"), text_of(message, "html")
    assert "%%NL_" not in text and "%%NL_" not in html
    assert text == TEXT.replace(GREETING, "Dear Jane Smith,").replace(
        UNSUBSCRIBE_URL, r.unsubscribe_url
    ).replace(PREFERENCES_URL, r.preferences_url)
    assert f'<a href="{r.unsubscribe_url}">' in html
    assert f'<a href="{r.preferences_url}">' in html
    assert html.count(r.unsubscribe_url) == 2
    assert "<p>Dear Jane Smith,</p>" in html
    assert "Café news: £5 —" in html


def test_unknown_name_gets_hello() -> None:
    message = parse(build().personalise(recipient(name=None)))
    assert text_of(message, "plain").startswith("Hello,\n")


def test_html_escaping_of_names() -> None:
    name = 'O\'Brien <x> & "Co"'
    message = parse(build().personalise(recipient(name=name)))
    html, text = text_of(message, "html"), text_of(message, "plain")
    assert "<p>Dear O&#x27;Brien &lt;x&gt; &amp; &quot;Co&quot;,</p>" in html
    assert "<x>" not in html
    assert text.startswith(f"Dear {name},\n")
    assert message["To"].addresses[0].display_name == name
    assert message["To"].addresses[0].addr_spec == "person1@example.org"


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Smith",
        "Łukasz Żółć-Brzęczyszczykiewicz Ångström Ørsted Müller-Lüdenscheidt née Crème",
        "渡辺 美咲",
        "Ann =?utf-8?q?x?= Lee",
        "Tab\there",
    ],
)
def test_non_ascii_and_odd_names(name: str) -> None:
    data = build().personalise(recipient(name=name))
    assert_wire_format(data)
    head = data.partition(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if line.startswith((b"To", b" =")))
    message = parse(data)
    expected = " ".join(name.split())
    # CPython's address parser keeps the whitespace between adjacent
    # encoded-words, which RFC 2047 section 6.2 says to drop; compare words with
    # it, and exactly with the RFC-following legacy decoder.
    display = message["To"].addresses[0].display_name
    assert display.split() == expected.split()
    raw_to = re.search(rb"^To: (.*?)\r\n(?! )", head + b"\r\n", re.MULTILINE | re.DOTALL)
    assert raw_to is not None
    phrase = raw_to.group(1).decode().rsplit("<", 1)[0].strip().strip('"')
    decoded = "".join(
        part.decode(charset) if isinstance(part, bytes) and charset else str(part)
        for part, charset in decode_header(phrase)
    )
    if not name.isascii():
        assert decoded == expected
    assert message["To"].addresses[0].addr_spec == "person1@example.org"
    assert text_of(message, "plain").startswith(f"Dear {expected},\n")


def test_idn_domain_is_sent_as_a_labels() -> None:
    out = build().outgoing(recipient(email_address="ann@bücher.example"))
    assert out.recipients == ("ann@xn--bcher-kva.example",)
    assert parse(out.data)["To"].addresses[0].domain == "xn--bcher-kva.example"


def test_message_ids_unique_and_constant_parts_shared() -> None:
    template = build()
    messages = [parse(template.personalise(recipient(n))) for n in range(1, 501)]
    ids = {m["Message-ID"] for m in messages}
    assert len(ids) == 500
    assert len({text_of(m, "html").split("<p>", 3)[2] for m in messages}) == 1


def test_message_id_of_a_delivery_is_stable_across_templates_and_differs_by_key() -> None:
    """The same delivery keeps its Message-ID on every attempt (a template per
    process, built afresh after a restart); another send's key gives another id."""
    key, other_key = b"k" * 32, b"o" * 32
    first = [parse(build(message_id_key=key).personalise(recipient(n)))["Message-ID"]
             for n in range(1, 51)]  # fmt: skip
    again = [parse(build(message_id_key=key).personalise(recipient(n)))["Message-ID"]
             for n in range(1, 51)]  # fmt: skip
    other = parse(build(message_id_key=other_key).personalise(recipient(1)))["Message-ID"]
    assert first == again
    assert len(set(first)) == 50
    assert other != first[0]
    # The delivery id and the From domain are readable in it (RFC 5322 msg-id).
    assert re.fullmatch(r"<1001\.[0-9a-f]{16}@mail\.example\.org>", first[0])
    out = build(message_id_key=key).outgoing(recipient(1))
    assert out.message_id == first[0]


def test_without_a_delivery_or_key_every_message_id_is_fresh() -> None:
    """Previews and test copies have no delivery row: never two alike."""
    preview = Recipient.for_subscriber(
        "p@example.org", None, 1, None, send_id=None, settings=SETTINGS
    )
    template = build(message_id_key=b"k" * 32)
    ids = {parse(template.personalise(preview))["Message-ID"] for _ in range(20)}
    assert len(ids) == 20
    assert len({parse(build().personalise(recipient(1)))["Message-ID"] for _ in range(20)}) == 20


@pytest.mark.parametrize(
    "make",
    [
        lambda: recipient(name="Jane\r\nBcc: victim@example.org"),
        lambda: recipient(name="Jane\nBcc: victim@example.org"),
        lambda: recipient(email_address="a@example.org\r\nBcc: victim@example.org"),
        lambda: Recipient(
            "a@example.org", None, 1, 1, "https://x/u/1\r\nX: y", "https://x/p", None
        ),
        lambda: Recipient(
            "a@example.org", None, 1, 1, "https://x/u/1", "https://x/p", "mailto:a\rb"
        ),
    ],
)
def test_header_injection_rejected_per_recipient(make: Callable[[], Recipient]) -> None:
    with pytest.raises(HeaderInjectionError):
        build().personalise(make())


def test_header_injection_rejected_at_build() -> None:
    with pytest.raises(HeaderInjectionError):
        MessageTemplate.build(edition(subject="Hi\r\nBcc: x@example.org"), [], settings=SETTINGS)
    with pytest.raises(HeaderInjectionError):
        build(feedback_id="a\nb")
    with pytest.raises(HeaderInjectionError):
        build(list_id="x.example.org\r\nBcc: y@example.org")
    with pytest.raises(HeaderInjectionError):
        MessageTemplate.build(
            edition(),
            [],
            settings=SETTINGS.model_copy(update={"reply_to": "a@example.org\nBcc: b@example.org"}),
        )


@pytest.mark.parametrize("address", ["no-at-sign", "a b@example.org", "<a@example.org>", "ü@x.org"])
def test_unusable_addresses_rejected(address: str) -> None:
    with pytest.raises(MessageError):
        build().personalise(recipient(email_address=address))


def calendar_part(message: EmailMessage) -> EmailMessage:
    found = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(found) == 1
    assert isinstance(found[0], EmailMessage)
    return found[0]


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.iter_attachments() if isinstance(p, EmailMessage)]


def test_publish_event_structure() -> None:
    part = CalendarPart(method="PUBLISH", filename="regional-dcs-meeting.ics", ics=ics("PUBLISH"))
    data = build([part]).personalise(recipient())
    assert_wire_format(data)
    message = parse(data)
    assert structure(message) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    inline = calendar_part(message)
    assert inline.get_param("method") == "PUBLISH"
    assert inline.get_content_charset() == "utf-8"
    content = inline.get_content()
    assert isinstance(content, str)
    calendar = icalendar.Calendar.from_ical(content)
    assert str(calendar["METHOD"]) == inline.get_param("method")
    assert content.replace("\r\n", "\n") == part.ics.decode().replace("\r\n", "\n")
    (attachment,) = attachments(message)
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "regional-dcs-meeting.ics"
    assert attachment.get_content() == part.ics
    assert "ATTENDEE" not in content


def test_request_event_gets_recipient_as_attendee() -> None:
    # The real newsletter.calendar.with_attendee, loaded by default.
    part = CalendarPart(method="REQUEST", filename="meeting.ics", ics=ics("REQUEST"))
    template = build([part])
    seen = []
    for n, name in ((1, "Jane Smith"), (2, "Zoë O'Brien")):
        message = parse(template.personalise(recipient(n, name)))
        inline = calendar_part(message)
        assert inline.get_param("method") == "REQUEST"
        content = inline.get_content()
        assert isinstance(content, str)
        event = icalendar.Calendar.from_ical(content).walk("VEVENT")[0]
        attendee = event["ATTENDEE"]
        assert str(attendee).lower() == f"mailto:person{n}@example.org"
        assert attendee.params["CN"] == name
        (attachment,) = attachments(message)
        assert attachment.get_content().decode().replace("\r\n", "\n") == content.replace(
            "\r\n", "\n"
        )
        seen.append(content)
    assert seen[0] != seen[1]


def test_attendee_function_called_only_for_request() -> None:
    calls: list[str] = []

    def fake(part: CalendarPart, address: str, name: str | None) -> CalendarPart:
        calls.append(address)
        return part

    publish = CalendarPart(method="PUBLISH", filename="a.ics", ics=ics("PUBLISH"))
    build([publish], with_attendee=fake).personalise(recipient())
    assert calls == []
    request = CalendarPart(method="REQUEST", filename="a.ics", ics=ics("REQUEST"))
    build([request], with_attendee=fake).personalise(recipient())
    assert calls == ["person1@example.org"]  # once per recipient, shared by both parts


LONG_NAME = "Réunion d’été des directeurs — Newcastle upon Tyne, salle polyvalente n°3.ics"


def test_several_events_are_attachments_only() -> None:
    parts = [
        CalendarPart(method="PUBLISH", filename="one.ics", ics=ics("PUBLISH", "one@x")),
        CalendarPart(method="PUBLISH", filename=LONG_NAME, ics=ics("PUBLISH", "two@x")),
    ]
    data = build(parts).personalise(recipient())
    assert_wire_format(data)
    message = parse(data)
    assert structure(message) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/ics",
        "application/ics",
    ]
    assert [a.get_filename() for a in attachments(message)] == ["one.ics", LONG_NAME]


def test_method_must_match_method_line() -> None:
    part = CalendarPart(method="REQUEST", filename="a.ics", ics=ics("PUBLISH"))
    with pytest.raises(MessageError, match="METHOD line"):
        build([part])


def test_suppression_and_envelope_hooks() -> None:
    template = build(
        is_suppressed=lambda address: address == "person2@example.org",
        envelope_from=lambda r: f"bounces+{r.delivery_id}@mail.example.org",
    )
    assert template.outgoing(recipient(1)).envelope_from == "bounces+1001@mail.example.org"
    with pytest.raises(RecipientSuppressedError):
        template.outgoing(recipient(2))


placeholder = st.sampled_from([GREETING, UNSUBSCRIBE_URL, PREFERENCES_URL])
chunk = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r"), max_size=200
)


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.one_of(chunk, placeholder), max_size=8), name=st.text(max_size=30))
def test_splicing_round_trips_any_text(pieces: list[str], name: str) -> None:
    """Whatever the text, the decoded part is the text with the values put in."""
    text = "".join(pieces)
    name = "".join(c for c in name if c.isprintable()) or "X"
    template = MessageTemplate.build(edition(html=text, text=text), [], settings=SETTINGS)
    r = recipient(name=name)
    data = template.personalise(r)
    assert_wire_format(data)
    assert template.outgoing(r).dot_free
    assert b"\n." not in data and not data.startswith(b".")
    greeting = f"Dear {' '.join(name.split())}," if name.strip() else "Hello,"
    values = {GREETING: greeting, UNSUBSCRIBE_URL: r.unsubscribe_url}
    values[PREFERENCES_URL] = r.preferences_url
    expected = "".join(values.get(p, p) for p in pieces)
    assert text_of(parse(data), "plain") == expected


def test_no_line_begins_with_a_dot_so_smtp_needs_no_dot_stuffing() -> None:
    """Dots that would begin a line, in the text, after a soft break or in a value, are =2E."""
    long_line = "x" * 75 + ".after a soft break"
    text = f"{GREETING}\n.dot line\n..two dots\n.\n{long_line}\n"
    template = MessageTemplate.build(edition(html=text, text=text), [], settings=SETTINGS)
    r = recipient(name=".Dot")
    message = template.outgoing(r)
    assert message.dot_free
    assert b"\n." not in message.data
    assert b"=2E" in message.data
    expected = f"Dear .Dot,\n.dot line\n..two dots\n.\n{long_line}\n"
    assert text_of(parse(message.data), "plain") == expected


@given(st.binary().map(lambda b: b.translate(bytes.maketrans(b"\x00\x01\x02", b".\n."))))
def test_quoted_printable_never_begins_a_line_with_a_dot(data: bytes) -> None:
    encoded = encode_qp(data)
    assert b"\n." not in encoded and not encoded.startswith(b".")
    assert binascii.a2b_qp(encoded).replace(b"\r\n", b"\n") == data
