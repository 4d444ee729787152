"""Transactional emails of the public pages: the double opt-in confirmation and a preferences link.

The web forms never send these themselves: every valid request queues the
same task (:func:`request_confirmation` or :func:`request_preferences_link`)
whatever the address's state, and the task decides whether anything goes
out.  So the answer takes the same time whether or not the address is on
the list (no enumeration by timing), and a slow mail server never holds a
request.  The task also enforces a per-recipient cooldown and daily cap
(``CONFIRMATION_COOLDOWN_SECONDS``, ``CONFIRMATION_DAILY_CAP``), so the forms
cannot be used to flood someone's inbox; the form's answer does not change.

The only text of the requester's that reaches the email is the greeting
name, cut to :data:`GREETING_LENGTH` characters with anything that could read
as a link or an instruction removed (see :func:`greeting_name`).

These go to one person at a time, so a fresh ``EmailMessage`` per message is
fine (the splicing machinery is for bulk sends).  They go through the
process's runtime transport (``newsletter.dispatch.runtime``), the same one
the workers use, so tests capture them with the in-memory transport.
"""

from __future__ import annotations

import email.policy
import logging
import re
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Final

from sqlalchemy.orm import Session

from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.dispatch.runtime import get_runtime
from newsletter.models import Subscriber
from newsletter.subscribers import SubscriberError, SubscriberInput, by_key, upsert
from newsletter.suppressions import is_suppressed
from newsletter.throttles import throttle
from newsletter.tokens import TTL, confirm_url, preferences_url, status_stamp
from newsletter.transports import OutgoingMessage, TransportError

log = logging.getLogger(__name__)

# SMTP transports are not thread-safe; web request threads take turns.
_send_lock = threading.Lock()
# Names are up to 200 characters; a greeting needs far fewer, and a short one
# leaves no room for a message of the requester's own.
GREETING_LENGTH: Final = 40
# Anything that could make the greeting carry a link or an address.
_LINKISH = re.compile(r"[^\w\s'.-]|https?|www\.|\.\w{2,}", re.IGNORECASE)


def greeting_name(name: str) -> str:
    """``name`` fit for "Hello NAME,": one line, letters, spaces, apostrophes, dots and hyphens.

    Characters outside that set (``:/@<>`` …) and link-like fragments are
    dropped, whitespace collapsed, and the result cut to
    :data:`GREETING_LENGTH` characters; "there" when nothing is left.
    """
    cleaned = " ".join(_LINKISH.sub(" ", name).split())[:GREETING_LENGTH].strip(" .-'")
    return cleaned or "there"


def _message(settings: Settings, to: str, subject: str, body: str) -> OutgoingMessage:
    """A plain-text message with Message-ID and Date; raises ValueError on header injection."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = settings.from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    message_id = make_msgid(domain=settings.sending_domain)
    msg["Message-ID"] = message_id
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    # Transactional mail: tell autoresponders not to answer (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    envelope = parseaddr(settings.from_address)[1]
    return OutgoingMessage(
        envelope_from=envelope, recipients=(to,), data=msg.as_bytes(), message_id=message_id
    )


def _send(message: OutgoingMessage) -> None:
    with _send_lock:
        get_runtime().transport.send(message)


def send_confirmation(subscriber: Subscriber, settings: Settings) -> str:
    """Email the double opt-in link to ``subscriber``; returns the Message-ID.

    The link is bound to the subscriber's current status (single use).
    Raises TransportError when the transport refuses the message.
    """
    url = confirm_url(subscriber.id, status_stamp(subscriber.status_changed_at), settings=settings)
    hours = int(TTL["confirm"].total_seconds() // 3600)
    body = (
        f"Hello {greeting_name(subscriber.name)},\n\n"
        "Someone (we hope you) asked to receive the North East children's services\n"
        "network updates at this address. To confirm, open this link and press\n"
        "the Confirm button:\n\n"
        f"{url}\n\n"
        f"The link works for {hours} hours. If you did not ask for this, ignore\n"
        "this email: nothing will be sent to you.\n\n"
        f"{settings.organisation_address}\n"
    )
    message = _message(settings, subscriber.email, "Please confirm your subscription", body)
    _send(message)
    return message.message_id


def send_preferences_link(subscriber: Subscriber, settings: Settings) -> str:
    """Email a fresh preferences link to ``subscriber``; returns the Message-ID."""
    url = preferences_url(subscriber.id, settings=settings)
    body = (
        f"Hello {greeting_name(subscriber.name)},\n\n"
        "Here is your link to change what you receive or to unsubscribe:\n\n"
        f"{url}\n\n"
        "It works for 30 days. If you did not ask for it, ignore this email.\n\n"
        f"{settings.organisation_address}\n"
    )
    message = _message(settings, subscriber.email, "Your subscription preferences", body)
    _send(message)
    return message.message_id


def recipient_allowed(email_key: str, settings: Settings) -> bool:
    """Count one email to ``email_key`` if its cooldown and daily cap allow; False if not."""
    daily = throttle("mail-day", settings.confirmation_daily_cap, 86400.0, settings=settings)
    if daily.retry_after(email_key) is not None:
        return False
    if settings.confirmation_cooldown_seconds > 0:
        cooldown = throttle(
            "mail-cooldown", 1, float(settings.confirmation_cooldown_seconds), settings=settings
        )
        if cooldown.hit(email_key) is not None:
            return False
    daily.count(email_key)
    return True


def _suppressed(db: Session, email_key: str) -> bool:
    return bool(is_suppressed(db, [email_key]))


def request_confirmation(email: str, name: str = "", organisation: str = "", role: str = "") -> str:
    """Task: store a pending subscriber if new and email the confirmation when it should go.

    Nothing is sent to an active, bounced, complained or suppressed address,
    nor beyond the recipient's cooldown or daily cap.  An existing profile is
    never changed (anyone can type anyone's address).  Returns what happened
    ("sent", or why not), for logs and tests.
    """
    settings = get_settings()
    try:
        wanted = SubscriberInput.build(
            email, name=name, organisation=organisation, roles=[role] if role else []
        )
    except SubscriberError as exc:  # the form validated already; a hand-made task did not
        log.warning("subscribe request dropped: %s", exc)
        return "invalid"
    with session_scope() as db:
        subscriber = by_key(db, wanted.email_key)
        if subscriber is None:
            upsert(db, [wanted], default_status="pending", consent_source="web form (unconfirmed)")
            subscriber = by_key(db, wanted.email_key)
            assert subscriber is not None
        if subscriber.status in ("active", "bounced", "complained"):
            return subscriber.status
        if _suppressed(db, wanted.email_key):
            return "suppressed"
        if not recipient_allowed(wanted.email_key, settings):
            return "throttled"
        try:
            send_confirmation(subscriber, settings)
        except TransportError:
            log.exception("confirmation email to subscriber %s failed", subscriber.id)
            return "failed"
    return "sent"


def request_preferences_link(email: str) -> str:
    """Task: email a preferences link if the address is on the list and not suppressed."""
    settings = get_settings()
    try:
        wanted = SubscriberInput.build(email)
    except SubscriberError as exc:
        log.warning("link request dropped: %s", exc)
        return "invalid"
    with session_scope() as db:
        subscriber = by_key(db, wanted.email_key)
        if subscriber is None:
            return "unknown"
        if _suppressed(db, wanted.email_key):
            return "suppressed"
        if not recipient_allowed(wanted.email_key, settings):
            return "throttled"
        try:
            send_preferences_link(subscriber, settings)
        except TransportError:
            log.exception("preferences link to subscriber %s failed", subscriber.id)
            return "failed"
    return "sent"
