"""Delivery status notifications: RFC 3464 first, flufl.bounce for the rest.

A standard DSN is ``multipart/report; report-type=delivery-status``
(RFC 6522) whose second part, ``message/delivery-status``, holds one block of
per-message fields and one block per recipient (RFC 3464 section 2.1), and
whose optional third part returns the original message or its headers.
Many MTAs (old qmail, Exchange variants, some hosted services) send free
text instead; flufl.bounce's heuristics find the failed addresses in those,
without a status code, so we give them the generic ``5.0.0`` / ``4.0.0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr
from typing import Final

from flufl.bounce import all_failures

from newsletter.errors import UserError

__all__ = ["DeliveryReport", "DsnError", "RecipientStatus", "original_headers", "parse_dsn"]

# RFC 3464 section 2.3.4 / RFC 3463 section 2: class.subject.detail.
_STATUS_RE: Final = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# RFC 5321 section 4.2: a three-digit reply code at the start of a diagnostic.
_REPLY_RE: Final = re.compile(r"(?:^|;)\s*([245])\d\d\b")
_ACTIONS: Final = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})


class DsnError(UserError, ValueError):
    """The message says it is a delivery-status report but cannot be read as one."""


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's fate: ``action`` (RFC 3464 2.3.3) and ``status`` (``5.1.1``)."""

    recipient: str
    original_recipient: str | None
    action: str
    status: str
    diagnostic: str

    @property
    def status_class(self) -> int:
        """2 (success), 4 (persistent transient failure) or 5 (permanent failure)."""
        return int(self.status[0])


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a bounce says: per-recipient statuses and, when returned, the original headers.

    ``standard`` is True for an RFC 3464 report, False for a flufl.bounce guess.
    """

    recipients: tuple[RecipientStatus, ...]
    original: Message | None
    reporting_mta: str
    standard: bool


def _address(value: str | None) -> str | None:
    """The address of an ``address-type; address`` field (RFC 3464 section 2.3.2)."""
    if not value:
        return None
    text = " ".join(str(value).split())
    _, _, address = text.rpartition(";")
    address = parseaddr(address.strip())[1] or address.strip().strip("<>")
    return address or None


def _status(status: str | None, diagnostic: str, action: str) -> str:
    """The enhanced status code, from Status, else from the diagnostic, else from Action."""
    for text in (status or "", diagnostic):
        found = _STATUS_RE.search(text)
        if found:
            return ".".join(found.groups())
    reply = _REPLY_RE.search(diagnostic)
    if reply:
        return f"{reply.group(1)}.0.0"
    if action == "failed":
        return "5.0.0"
    if action == "delayed":
        return "4.0.0"
    if action in ("delivered", "relayed", "expanded"):
        return "2.0.0"
    raise DsnError(f"recipient block has no usable Status (action {action!r})")


def original_headers(report: Message) -> Message | None:
    """The returned original message (RFC 6522 third part) or its headers, if present."""
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return HeaderParser().parsestr(data.decode("utf-8", "replace"))
    return None


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status part, however the parser left them."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # A transfer-encoded status part arrives as text: decode and split on blank lines.
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(chunk + "\n") for chunk in chunks if chunk.strip()]


def _is_report(message: Message, report_type: str) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "", header="content-type")).lower() == report_type
    )


def _standard(message: Message) -> DeliveryReport | None:
    status_part = next(
        (
            p
            for p in message.walk()
            if p.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
        ),
        None,
    )
    if status_part is None:
        if _is_report(message, "delivery-status"):
            raise DsnError("delivery-status report without a message/delivery-status part")
        return None
    blocks = _blocks(status_part)
    if len(blocks) < 2:
        raise DsnError("delivery-status part has no per-recipient block")
    per_message, per_recipient = blocks[0], blocks[1:]
    recipients: list[RecipientStatus] = []
    for block in per_recipient:
        recipient = _address(block.get("Final-Recipient"))
        action = str(block.get("Action", "")).strip().lower().split(" ")[0]
        if recipient is None or action not in _ACTIONS:
            raise DsnError("recipient block lacks Final-Recipient or a known Action")
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        recipients.append(
            RecipientStatus(
                recipient=recipient,
                original_recipient=_address(block.get("Original-Recipient")),
                action=action,
                status=_status(block.get("Status"), diagnostic, action),
                diagnostic=diagnostic[:2000],
            )
        )
    return DeliveryReport(
        recipients=tuple(recipients),
        original=original_headers(message),
        reporting_mta=_address(per_message.get("Reporting-MTA")) or "",
        standard=True,
    )


def _heuristic(message: Message) -> DeliveryReport | None:
    """flufl.bounce's detectors for bounces that do not follow RFC 3464."""
    temporary, permanent = all_failures(message)
    statuses = [
        RecipientStatus(
            recipient=address.decode("utf-8", "replace"),
            original_recipient=None,
            action="failed" if code == "5.0.0" else "delayed",
            status=code,
            diagnostic="non-standard bounce; address found by flufl.bounce",
        )
        for addresses, code in ((permanent, "5.0.0"), (temporary - permanent, "4.0.0"))
        for address in sorted(addresses)
    ]
    if not statuses:
        return None
    return DeliveryReport(
        recipients=tuple(statuses),
        original=original_headers(message),
        reporting_mta="",
        standard=False,
    )


def parse_dsn(message: Message) -> DeliveryReport | None:
    """Read ``message`` as a bounce; None when it is not one.

    RFC 3464 reports are read field by field; anything else goes to
    flufl.bounce.  Raises DsnError when the message claims to be a
    delivery-status report but its fields are missing or unreadable (the
    intake keeps such messages aside rather than guessing).
    """
    report = _standard(message)
    if report is not None:
        return report
    return _heuristic(message)
