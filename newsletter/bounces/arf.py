"""Complaint reports in the Abuse Reporting Format (RFC 5965).

A mailbox provider's feedback loop sends ``multipart/report;
report-type=feedback-report`` (RFC 6522): a human-readable part, a
``message/feedback-report`` part of header-like fields, and the original
message or its headers (``message/rfc822`` or ``text/rfc822-headers``).
RFC 5965 section 3.1 requires Feedback-Type, User-Agent and Version; many
providers redact the recipient (RFC 6590), which is why the intake maps a
complaint through the VERP address in Original-Mail-From or the original's
Message-ID rather than through a recipient address.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr

from newsletter.bounces.dsn import original_headers
from newsletter.errors import UserError

__all__ = ["ACTED_ON", "ArfError", "ComplaintReport", "parse_arf"]

# Feedback types (RFC 5965 section 7.3 registry) that mean "the recipient does
# not want this mail": they unsubscribe and suppress.  ``not-spam`` is recorded
# and ignored; ``virus``, ``other`` and ``auth-failure`` (RFC 6591) say nothing
# about the recipient's wishes and are kept aside for a person to read.
ACTED_ON = frozenset({"abuse", "fraud"})


class ArfError(UserError, ValueError):
    """The message says it is a feedback report but lacks what RFC 5965 requires."""


@dataclass(frozen=True, slots=True)
class ComplaintReport:
    """The fields of a feedback report that the intake uses."""

    feedback_type: str
    user_agent: str
    version: str
    original_mail_from: str | None
    original_rcpt_to: tuple[str, ...]
    source_ip: str | None
    original: Message | None


def _fields(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    return HeaderParser().parsestr(text)


def parse_arf(message: Message) -> ComplaintReport | None:
    """Read ``message`` as an ARF complaint; None when it is not a feedback report.

    Raises ArfError when it is ``report-type=feedback-report`` (or holds a
    ``message/feedback-report`` part) but a required field is missing.
    """
    part = next(
        (p for p in message.walk() if p.get_content_type() == "message/feedback-report"), None
    )
    declared = (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "", header="content-type")).lower()
        == "feedback-report"
    )
    if part is None:
        if declared:
            raise ArfError("feedback report without a message/feedback-report part")
        return None
    fields = _fields(part)
    feedback_type = " ".join(str(fields.get("Feedback-Type", "")).split()).lower()
    user_agent = " ".join(str(fields.get("User-Agent", "")).split())
    version = " ".join(str(fields.get("Version", "")).split())
    missing = [
        name
        for name, value in (
            ("Feedback-Type", feedback_type),
            ("User-Agent", user_agent),
            ("Version", version),
        )
        if not value
    ]
    if missing:
        raise ArfError(f"feedback report lacks {', '.join(missing)} (RFC 5965 section 3.1)")
    mail_from = fields.get("Original-Mail-From")
    return ComplaintReport(
        feedback_type=feedback_type,
        user_agent=user_agent,
        version=version,
        original_mail_from=parseaddr(str(mail_from))[1] or None if mail_from else None,
        original_rcpt_to=tuple(
            address
            for value in fields.get_all("Original-Rcpt-To", [])
            if (address := parseaddr(str(value))[1])
        ),
        source_ip=str(fields["Source-IP"]).strip() if fields.get("Source-IP") else None,
        original=original_headers(message),
    )
