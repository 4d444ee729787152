"""Transactional emails of the public pages: the double opt-in confirmation and a preferences link.

These go to one person at a time, so a fresh ``EmailMessage`` per message is
fine (the splicing machinery is for bulk sends).  They go through the
process's runtime transport (``newsletter.dispatch.runtime``), the same one
the workers use, so tests capture them with the in-memory transport.
"""

from __future__ import annotations

import email.policy
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from newsletter.config import Settings
from newsletter.dispatch.runtime import get_runtime
from newsletter.models import Subscriber
from newsletter.tokens import TTL, confirm_url, preferences_url
from newsletter.transports import OutgoingMessage

# SMTP transports are not thread-safe; web request threads take turns.
_send_lock = threading.Lock()


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

    Raises TransportError when the transport refuses the message.
    """
    url = confirm_url(subscriber.id, settings=settings)
    hours = int(TTL["confirm"].total_seconds() // 3600)
    name = subscriber.name or "there"
    body = (
        f"Hello {name},\n\n"
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
        f"Hello {subscriber.name or 'there'},\n\n"
        "Here is your link to change what you receive or to unsubscribe:\n\n"
        f"{url}\n\n"
        "It works for 30 days. If you did not ask for it, ignore this email.\n\n"
        f"{settings.organisation_address}\n"
    )
    message = _message(settings, subscriber.email, "Your subscription preferences", body)
    _send(message)
    return message.message_id
