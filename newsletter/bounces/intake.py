"""Bounce and complaint intake: one raw message in, one :class:`BounceResult` out.

The rules (see docs/architecture.md, "Bounces"):

* a hard bounce (status 5.x.x) marks the subscriber ``bounced`` and
  suppresses the address;
* a soft bounce (4.x.x, including "delayed" DSNs) is recorded; when the
  address has soft-bounced on ``soft_bounce_limit`` distinct deliveries within
  ``soft_bounce_window_days`` it is suppressed (counting deliveries, not
  reports, so the repeated delay warnings of one message count once);
* an ARF complaint of type abuse or fraud marks the subscriber
  ``complained`` and suppresses the address;
* every acted-on report names the delivery and send it belongs to, found
  through the signed VERP address, else the original Message-ID, else the
  original's X-Newsletter-Delivery header when the report's recipient matches
  that delivery's subscriber;
* an attendee's calendar reply (iTIP REPLY) is recorded against the event
  (``outcome="rsvp"``); a mail to the List-Unsubscribe mailto address with
  a genuine token unsubscribes (``outcome="unsubscribed"``); an automatic
  reply (RFC 3834) is ignored (``outcome="auto-reply"``); see
  :mod:`newsletter.bounces.requests`;
* anything else (garbled, unknown, ambiguous, not ours) is kept aside in
  ``bounce_set_aside`` with the reason; it never raises and never suppresses.

Ingesting the same message twice records it once (``outcome="duplicate"``).
"""

from __future__ import annotations

import email
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.bounces.arf import ACTED_ON, ArfError, ComplaintReport, parse_arf
from newsletter.bounces.dsn import DeliveryReport, DsnError, RecipientStatus, parse_dsn
from newsletter.bounces.models import BounceEvent, BounceSetAside
from newsletter.bounces.requests import (
    auto_reply_reason,
    is_unsubscribe_request,
    unsubscribe_tokens,
)
from newsletter.bounces.verp import delivery_from_verp
from newsletter.config import Settings, get_settings
from newsletter.db import insert_ignore
from newsletter.events.replies import (
    ReplyRejected,
    find_reply_calendar,
    parse_reply,
    record_reply,
)
from newsletter.models import Delivery, Subscriber, utcnow
from newsletter.subscribers import set_status
from newsletter.suppressions import suppress_address
from newsletter.tokens import UNSUBSCRIBE, TokenError, read_token

__all__ = ["OUTCOMES", "BounceResult", "ingest_message", "set_aside"]

log = logging.getLogger(__name__)

OUTCOMES: Final = (
    "hard",
    "soft",
    "complaint",
    "ignored",
    "duplicate",
    "set-aside",
    "rsvp",
    "unsubscribed",
    "auto-reply",
)
# Headers where the receiving MTA records the envelope recipient (our VERP address).
_ENVELOPE_HEADERS: Final = (
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Original-Recipient",
    "To",
    "Cc",
)
_MAX_RAW: Final = 2_000_000


@dataclass(frozen=True, slots=True)
class BounceResult:
    """What the intake did with one message.

    ``outcome`` is one of :data:`OUTCOMES`.  ``delivery_id`` and ``send_id``
    name the delivery the report concerns (None only when set aside);
    ``suppressed`` says whether this report suppressed the address;
    ``set_aside_id`` is the ``bounce_set_aside`` row of a message kept aside.
    """

    outcome: str
    reason: str
    delivery_id: int | None = None
    send_id: int | None = None
    subscriber_id: int | None = None
    email: str | None = None
    status: str | None = None
    suppressed: bool = False
    set_aside_id: int | None = None


class _SetAside(Exception):  # noqa: N818 (control flow, never escapes this module)
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def ingest_message(
    session: Session,
    raw: bytes,
    *,
    source: str = "",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> BounceResult:
    """Classify ``raw`` (one RFC 5322 message) and apply the rules; the caller commits.

    Never raises for bad input: unreadable, unknown or ambiguous messages are
    kept aside.  Work on the store runs in a savepoint, so a failure part-way
    leaves nothing half-applied before the message is kept aside.  Only a
    store that cannot even record the set-aside row makes this raise.
    """
    s = settings or get_settings()
    when = now or utcnow()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        savepoint = session.begin_nested()
        try:
            result = _process(session, raw, digest, source[:500], s, when)
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        return result
    except _SetAside as aside:
        return set_aside(session, raw, aside.reason, aside.detail, source=source, now=when)
    except Exception as exc:  # never crash the intake on one message
        log.exception("bounce intake failed on a message from %s", source or "?")
        return set_aside(
            session, raw, "intake error", f"{type(exc).__name__}: {exc}", source=source, now=when
        )


def set_aside(
    session: Session,
    raw: bytes,
    reason: str,
    detail: str = "",
    *,
    source: str = "",
    now: datetime | None = None,
) -> BounceResult:
    """Keep ``raw`` aside with ``reason`` (once per distinct message); suppresses nothing."""
    digest = hashlib.sha256(raw).hexdigest()
    stored = raw if len(raw) <= _MAX_RAW else raw[:_MAX_RAW]
    if len(raw) > _MAX_RAW:
        detail = f"{detail} (message truncated from {len(raw)} bytes)".strip()
    insert_ignore(
        session,
        BounceSetAside,
        [
            {
                "digest": digest,
                "reason": reason[:100],
                "detail": detail[:4000],
                "source": source[:500],
                "raw": stored,
                "created_at": now or utcnow(),
            }
        ],
    )
    row_id = session.scalar(select(BounceSetAside.id).where(BounceSetAside.digest == digest))
    return BounceResult(outcome="set-aside", reason=reason, set_aside_id=row_id)


def _process(
    session: Session, raw: bytes, digest: str, source: str, s: Settings, now: datetime
) -> BounceResult:
    previous = session.scalar(select(BounceEvent).where(BounceEvent.event_key == digest))
    if previous is not None:
        return BounceResult(
            outcome="duplicate",
            reason=f"already recorded as {previous.kind} on {previous.created_at:%Y-%m-%d}",
            delivery_id=previous.delivery_id,
            send_id=previous.send_id,
            subscriber_id=previous.subscriber_id,
            status=previous.status or None,
        )
    if not raw.strip():
        raise _SetAside("empty message")
    message = email.message_from_bytes(raw)
    if not message.keys():
        raise _SetAside("unreadable message", "no header fields could be parsed")
    try:
        complaint = parse_arf(message)
    except ArfError as exc:
        raise _SetAside("malformed feedback report", str(exc)) from None
    if complaint is not None:
        return _complaint(session, message, complaint, digest, source, s, now)
    try:
        report = parse_dsn(message)
    except DsnError as exc:
        raise _SetAside("malformed delivery status notification", str(exc)) from None
    if report is None:
        return _not_a_bounce(session, message, s, now)
    return _bounce(session, message, report, digest, source, s, now)


# --- replies, unsubscribe requests, auto-replies -------------------------------


def _not_a_bounce(session: Session, message: Message, s: Settings, now: datetime) -> BounceResult:
    calendar = find_reply_calendar(message)
    if calendar is not None:
        try:
            sender = parseaddr(str(message.get("From", "")))[1]
            done = record_reply(session, parse_reply(calendar), sender=sender, now=now)
        except ReplyRejected as exc:
            raise _SetAside(exc.reason, exc.detail) from None
        what = "recorded" if done.changed else "already recorded (a newer answer is kept)"
        return BounceResult(
            outcome="rsvp" if done.changed else "duplicate",
            reason=f"{done.status} for event {done.event_id}: {what}",
            subscriber_id=done.subscriber_id,
            email=done.email,
            status=done.status,
        )
    auto = auto_reply_reason(message)
    # An unsubscribe request counts even when the sending client marked it as
    # automatic (some do, for the mailto List-Unsubscribe they send themselves).
    if is_unsubscribe_request(message, s) and (auto is None or unsubscribe_tokens(message)):
        return _unsubscribe(session, message, s, now)
    if auto is not None:
        return BounceResult(outcome="auto-reply", reason=f"automatic reply ignored ({auto})")
    raise _SetAside("not a bounce or complaint", f"Subject: {message.get('Subject', '')}")


def _unsubscribe(session: Session, message: Message, s: Settings, now: datetime) -> BounceResult:
    candidates = unsubscribe_tokens(message)
    if not candidates:
        raise _SetAside("unsubscribe request without a token", str(message.get("Subject", "")))
    problems: list[str] = []
    for token in candidates:
        try:
            payload = read_token(token, UNSUBSCRIBE, secret=s.secret_key, now=now)
        except TokenError as exc:
            problems.append(str(exc))
            continue
        subscriber = session.get(Subscriber, payload.subject_id)
        if subscriber is None:
            raise _SetAside(
                "unsubscribe request for an unknown subscriber", str(payload.subject_id)
            )
        # Like the one-click page: a bounced or complained status is kept (it says more).
        changed = subscriber.status in ("active", "pending") and set_status(
            subscriber, "unsubscribed", now=now
        )
        session.flush()
        return BounceResult(
            outcome="unsubscribed",
            reason="unsubscribed by mail" if changed else f"already {subscriber.status}",
            send_id=payload.extra,
            subscriber_id=subscriber.id,
            email=subscriber.email,
        )
    raise _SetAside("unsubscribe request with no valid token", "; ".join(problems))


# --- finding the delivery ------------------------------------------------------


def _addresses(values: Iterable[object]) -> list[str]:
    return [addr for _, addr in getaddresses([str(v) for v in values]) if addr]


def _verp_candidates(message: Message, original: Message | None, extra: Iterable[str]) -> list[str]:
    found = _addresses(v for name in _ENVELOPE_HEADERS for v in message.get_all(name, []))
    if original is not None:
        found += _addresses(original.get_all("Return-Path", []))
    return found + [a for a in extra if a]


def _find_delivery(
    session: Session,
    message: Message,
    original: Message | None,
    recipients: Iterable[str],
    extra_verp: Iterable[str],
    s: Settings,
) -> tuple[Delivery, Subscriber, str]:
    """The delivery a report concerns, its subscriber and how it was found; or _SetAside."""
    ids = {
        i
        for a in _verp_candidates(message, original, extra_verp)
        if (i := delivery_from_verp(a, s)) is not None
    }
    how = "verp"
    if len(ids) > 1:
        raise _SetAside("ambiguous", f"report names deliveries {sorted(ids)}")
    if not ids and original is not None:
        message_id = str(original.get("Message-ID", "")).strip()
        if message_id:
            rows = session.scalars(
                select(Delivery.id).where(Delivery.message_id == message_id).limit(2)
            ).all()
            if len(rows) == 1:
                ids, how = {rows[0]}, "message-id"
        header = str(original.get("X-Newsletter-Delivery", "")).strip()
        if not ids and header.isdigit():
            ids, how = {int(header)}, "header"
    if not ids:
        raise _SetAside("no delivery", "no valid VERP address, known Message-ID or delivery header")
    (delivery_id,) = ids
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise _SetAside("unknown delivery", f"delivery {delivery_id} does not exist")
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    if subscriber is None:
        raise _SetAside("unknown subscriber", f"delivery {delivery_id} has no subscriber")
    if how == "header" and subscriber.email_key not in {r.lower() for r in recipients}:
        # The unsigned header alone could be forged to suppress anyone: insist
        # that the report's recipient is that delivery's subscriber.
        raise _SetAside(
            "no delivery",
            f"X-Newsletter-Delivery {delivery_id} does not match the reported recipient",
        )
    return delivery, subscriber, how


# --- acting on reports ---------------------------------------------------------


def _record(
    session: Session,
    digest: str,
    kind: str,
    delivery: Delivery,
    subscriber: Subscriber,
    status: str,
    action: str,
    diagnostic: str,
    source: str,
    now: datetime,
) -> None:
    session.add(
        BounceEvent(
            event_key=digest,
            kind=kind,
            email_key=subscriber.email_key,
            delivery_id=delivery.id,
            send_id=delivery.send_id,
            subscriber_id=subscriber.id,
            status=status,
            action=action,
            diagnostic=diagnostic[:2000],
            source=source,
            created_at=now,
        )
    )
    session.flush()


def _pick(report: DeliveryReport, subscriber: Subscriber) -> RecipientStatus:
    """The recipient block about this subscriber, else the most severe one."""
    for entry in report.recipients:
        names = {entry.recipient.lower(), (entry.original_recipient or "").lower()}
        if subscriber.email_key in names:
            return entry
    return max(report.recipients, key=lambda e: (e.status_class, e.action == "failed"))


def _bounce(
    session: Session,
    message: Message,
    report: DeliveryReport,
    digest: str,
    source: str,
    s: Settings,
    now: datetime,
) -> BounceResult:
    recipients = [r.recipient for r in report.recipients] + [
        r.original_recipient for r in report.recipients if r.original_recipient
    ]
    delivery, subscriber, how = _find_delivery(session, message, report.original, recipients, (), s)
    entry = _pick(report, subscriber)
    detail = f"{entry.status} {entry.diagnostic}".strip()
    named = f"send {delivery.send_id}, delivery {delivery.id}, found by {how}"
    base = BounceResult(
        outcome="ignored",
        reason="",
        delivery_id=delivery.id,
        send_id=delivery.send_id,
        subscriber_id=subscriber.id,
        email=subscriber.email,
        status=entry.status,
    )
    # 2.x.x reports a delivery (RFC 3463): recorded, acted on never.
    kind = {2: "ignored", 5: "hard"}.get(entry.status_class, "soft")
    _record(
        session,
        digest,
        kind,
        delivery,
        subscriber,
        entry.status,
        entry.action,
        entry.diagnostic,
        source,
        now,
    )
    if kind == "ignored":
        return replace(base, reason=f"{entry.action} notification ({named})")
    if kind == "hard":
        suppress_address(session, subscriber.email, "hard-bounce", f"{detail} ({named})")
        return replace(
            base, outcome="hard", reason=f"hard bounce {detail} ({named})", suppressed=True
        )
    window_start = now - timedelta(days=s.soft_bounce_window_days)
    count = int(
        session.scalar(
            select(func.count(func.distinct(BounceEvent.delivery_id))).where(
                BounceEvent.email_key == subscriber.email_key,
                BounceEvent.kind == "soft",
                BounceEvent.created_at >= window_start,
            )
        )
        or 0
    )
    reason = (
        f"soft bounce {detail} ({named}); {count} of {s.soft_bounce_limit} "
        f"in {s.soft_bounce_window_days} days"
    )
    suppressed = count >= s.soft_bounce_limit
    if suppressed:
        suppress_address(
            session,
            subscriber.email,
            "soft-bounces",
            f"{count} soft bounces within {s.soft_bounce_window_days} days; last {detail}",
        )
    return replace(base, outcome="soft", reason=reason, suppressed=suppressed)


def _complaint(
    session: Session,
    message: Message,
    report: ComplaintReport,
    digest: str,
    source: str,
    s: Settings,
    now: datetime,
) -> BounceResult:
    if report.feedback_type not in ACTED_ON and report.feedback_type != "not-spam":
        raise _SetAside(
            "feedback type not acted on",
            f"Feedback-Type {report.feedback_type!r} from {report.user_agent}",
        )
    extra = [report.original_mail_from] if report.original_mail_from else []
    delivery, subscriber, how = _find_delivery(
        session, message, report.original, report.original_rcpt_to, extra, s
    )
    named = f"send {delivery.send_id}, delivery {delivery.id}, found by {how}"
    base = BounceResult(
        outcome="complaint",
        reason=f"{report.feedback_type} report from {report.user_agent} ({named})",
        delivery_id=delivery.id,
        send_id=delivery.send_id,
        subscriber_id=subscriber.id,
        email=subscriber.email,
        status=None,
    )
    if report.feedback_type == "not-spam":
        _record(
            session,
            digest,
            "ignored",
            delivery,
            subscriber,
            "",
            "not-spam",
            report.user_agent,
            source,
            now,
        )
        return replace(base, outcome="ignored")
    _record(
        session,
        digest,
        "complaint",
        delivery,
        subscriber,
        "",
        report.feedback_type,
        report.user_agent,
        source,
        now,
    )
    # RFC 5965 section 8.5 / Gmail bulk-sender rules: a complaint means stop
    # mailing; the subscriber is unsubscribed as "complained", whatever they were.
    set_status(subscriber, "complained", now=now, source="complaint (feedback report)")
    session.flush()
    suppress_address(session, subscriber.email, "complaint", base.reason)
    return replace(base, suppressed=True)
