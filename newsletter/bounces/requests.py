"""Messages in the bounce mailbox that are not bounces: replies, unsubscribes, auto-replies.

* An iTIP REPLY (an attendee's accept, tentative or decline) is recorded by
  :mod:`newsletter.events.replies`.
* A mail to the ``List-Unsubscribe`` mailto address (``unsubscribe@<sending
  domain>``, subject ``unsubscribe <token>``) unsubscribes the subscriber the
  signed token names; the token may also be on a line of its own in the body
  as ``unsubscribe <token>``.  Without a genuine, unexpired token nothing
  happens: the message is kept aside (a forged or quoted request must never
  unsubscribe anyone, and an address alone proves nothing).
* An automatic reply (RFC 3834: ``Auto-Submitted`` other than ``no``, or the
  headers vacation responders set instead) is recognised and ignored.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses
from typing import Final

from newsletter.config import Settings

__all__ = ["auto_reply_reason", "is_unsubscribe_request", "unsubscribe_tokens"]

# URL-safe base64 as tokens use it; the shortest token is 30 characters.
_SUBJECT_REQUEST: Final = re.compile(r"^\s*(?:re:\s*)?unsubscribe\s+([\w-]{30,120})\s*$", re.I)
_BODY_REQUEST: Final = re.compile(r"^\s*unsubscribe\s+([\w-]{30,120})\s*$", re.I | re.M)
_ADDRESS_HEADERS: Final = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# Headers that vacation responders set besides (or instead of) Auto-Submitted.
_AUTO_HEADERS: Final = ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder")
_AUTO_PRECEDENCE: Final = frozenset({"auto_reply", "bulk", "junk", "list"})


def auto_reply_reason(message: Message) -> str | None:
    """Why ``message`` is an automatic reply (RFC 3834), or None when it is not one."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {submitted}"
    for name in _AUTO_HEADERS:
        if message.get(name) is not None:
            return f"{name} header"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    return None


def unsubscribe_address(settings: Settings) -> str:
    """The mailto address List-Unsubscribe advertises."""
    return f"unsubscribe@{settings.sending_domain}"


def is_unsubscribe_request(message: Message, settings: Settings) -> bool:
    """Whether ``message`` was sent to the unsubscribe address or says so in its subject."""
    wanted = unsubscribe_address(settings).lower()
    values = [str(v) for name in _ADDRESS_HEADERS for v in message.get_all(name, [])]
    if any(addr.lower() == wanted for _, addr in getaddresses(values)):
        return True
    return str(message.get("Subject", "")).strip().lower().startswith("unsubscribe")


def unsubscribe_tokens(message: Message) -> list[str]:
    """The candidate tokens of an unsubscribe request: the subject's, then the body's.

    Only ``unsubscribe <token>`` as the whole subject, or as a line of its own
    in a plain-text part: a token inside a quoted link never counts.
    """
    found: list[str] = []
    subject = " ".join(str(message.get("Subject", "")).split())
    match = _SUBJECT_REQUEST.match(subject)
    if match:
        found.append(match.group(1))
    for part in message.walk():
        if part.get_content_type() != "text/plain" or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        found += [m.group(1) for m in _BODY_REQUEST.finditer(text[:20_000])]
    return list(dict.fromkeys(found))
