"""Builders of realistic bounce and complaint messages (email package), for the bounce tests."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session

from newsletter.bounces.verp import verp_address
from newsletter.message import MessageTemplate, Recipient
from newsletter.models import Delivery, Send, Subscriber
from newsletter.parts import GREETING, PREFERENCES_URL, UNSUBSCRIBE_URL, RenderedEdition

EDITION = RenderedEdition(
    update_id=1,
    segment="dcs",
    segment_name="Directors of Children's Services",
    subject="North East update",
    preheader="News",
    html=f'<!DOCTYPE html><html lang="en-GB"><body><p>{GREETING}</p>'
    f'<a href="{UNSUBSCRIBE_URL}">Unsubscribe</a> <a href="{PREFERENCES_URL}">Prefs</a>'
    "</body></html>",
    text=f"{GREETING}\n\nNews.\nUnsubscribe: {UNSUBSCRIBE_URL}\nPreferences: {PREFERENCES_URL}\n",
)


def add_subscriber(session: Session, address: str) -> Subscriber:
    """An active subscriber."""
    subscriber = Subscriber(email=address, email_key=address.lower(), status="active")
    session.add(subscriber)
    session.flush()
    return subscriber


def send_to(session: Session, subscriber: Subscriber) -> tuple[Delivery, bytes]:
    """A new send with one sent delivery to ``subscriber``; returns it and the message sent.

    The message is built by the real MessageTemplate with the VERP hook, as the
    dispatch engine is to build it, and the delivery records its Message-ID.
    """
    send = Send(kind="newsletter", status="finished", segments=["dcs"])
    session.add(send)
    session.flush()
    delivery = Delivery(send_id=send.id, subscriber_id=subscriber.id, segment="dcs", status="sent")
    session.add(delivery)
    session.flush()
    template = MessageTemplate.build(
        EDITION, envelope_from=lambda r: verp_address(r.delivery_id or 0)
    )
    outgoing = template.outgoing(
        Recipient.for_subscriber(
            subscriber.email, subscriber.name or None, subscriber.id, delivery.id, send_id=send.id
        )
    )
    delivery.message_id = outgoing.message_id
    session.flush()
    # What the receiving MTA adds: the envelope sender as Return-Path (RFC 5321 4.4).
    data = f"Return-Path: <{outgoing.envelope_from}>\r\n".encode() + outgoing.data
    return delivery, data


def _base(to: str, subject: str) -> MIMEMultipart:
    report = MIMEMultipart("report")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.recipient.example>"
    report["To"] = to
    report["Subject"] = subject
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain="mx.recipient.example")
    return report


def _fields(pairs: list[tuple[str, str]]) -> Message:
    block = Message()
    for name, value in pairs:
        block[name] = value
    return block


def dsn(
    original: bytes | None,
    *,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    envelope_to: str | None = None,
    returned: str = "headers",
) -> bytes:
    """An RFC 3464 report (multipart/report; report-type=delivery-status) as Postfix sends it.

    ``envelope_to`` is the VERP address the bounce was delivered to (Delivered-To
    and To, as the receiving MTA records them); ``returned`` is "headers"
    (text/rfc822-headers), "message" (message/rfc822) or "none".
    """
    original_msg = email.message_from_bytes(original) if original else None
    to = envelope_to or (original_msg["Return-Path"].strip("<>") if original_msg else "x@y")
    report = _base(to, "Undelivered Mail Returned to Sender")
    report.set_param("report-type", "delivery-status")
    report.attach(
        MIMEText(
            "This is the mail system at host mx.recipient.example.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n"
        )
    )
    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload(
        [
            _fields(
                [
                    ("Reporting-MTA", "dns; mx.recipient.example"),
                    ("Arrival-Date", format_datetime(datetime.now(UTC))),
                ]
            ),
            _fields(
                [
                    ("Final-Recipient", f"rfc822; {recipient}"),
                    ("Original-Recipient", f"rfc822;{recipient}"),
                    ("Action", action),
                    ("Status", status),
                    ("Remote-MTA", "dns; mail.recipient.example"),
                    ("Diagnostic-Code", diagnostic.format(r=recipient)),
                ]
            ),
        ]
    )
    report.attach(status_part)
    if original_msg is not None and returned == "message":
        report.attach(MIMEMessage(original_msg))
    elif original and returned == "headers":
        head = original.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\n"
        part = MIMEText(head.replace("\r\n", "\n"), "rfc822-headers")
        report.attach(part)
    message = email.message_from_bytes(report.as_bytes())
    message["Delivered-To"] = to
    return message.as_bytes()


def arf(
    original: bytes,
    *,
    feedback_type: str = "abuse",
    mail_from: str | None = None,
    rcpt_to: str | None = "redacted@yahoo.example",
    user_agent: str | None = "YahooFBL/1.0",
) -> bytes:
    """An RFC 5965 complaint report as a mailbox provider's feedback loop sends it."""
    report = _base("fbl@newsletter.example.org", "FW: North East update")
    report.set_param("report-type", "feedback-report")
    report.attach(MIMEText("This is an email abuse report for an email message received.\n"))
    pairs = [("Feedback-Type", feedback_type), ("Version", "1")]
    if user_agent:
        pairs.append(("User-Agent", user_agent))
    if mail_from:
        pairs.append(("Original-Mail-From", f"<{mail_from}>"))
    if rcpt_to:
        pairs.append(("Original-Rcpt-To", f"<{rcpt_to}>"))
    pairs += [("Arrival-Date", format_datetime(datetime.now(UTC))), ("Source-IP", "192.0.2.1")]
    part = Message()
    part["Content-Type"] = "message/feedback-report"
    part.set_payload([_fields(pairs)])
    report.attach(part)
    original_msg = email.message_from_bytes(original)
    # Providers redact the recipient (RFC 6590) in the returned copy too.
    del original_msg["To"]
    original_msg["To"] = "redacted@yahoo.example"
    report.attach(MIMEMessage(original_msg))
    return report.as_bytes()


def qmail_bounce(recipient: str, verp: str) -> bytes:
    """A non-standard bounce in qmail-send's free-text format (no RFC 3464 report)."""
    message = EmailMessage()
    message["From"] = "MAILER-DAEMON@old.recipient.example"
    message["To"] = verp
    message["Subject"] = "failure notice"
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content(
        "Hi. This is the qmail-send program at old.recipient.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{recipient}>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "Subject: North East update\n"
    )
    message["Delivered-To"] = verp
    return message.as_bytes()
