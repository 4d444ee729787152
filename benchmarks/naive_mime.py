"""The naive way to build one recipient's message, shared by the benchmarks.

What a sender without splicing does per recipient: replace the placeholders
in the rendered edition, build an ``EmailMessage`` with the same headers the
engine sends, and serialise it.  benchmarks/render.py times it alone;
benchmarks/dispatch.py times it after a per-recipient render.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from newsletter import parts
from newsletter.config import Settings
from newsletter.message import Recipient, greeting
from newsletter.parts import CalendarPart, RenderedEdition


def email_message(
    edition: RenderedEdition,
    calendars: Sequence[CalendarPart],
    reader: Recipient,
    settings: Settings,
) -> bytes:
    """The final bytes of ``reader``'s message, built with the email package."""
    values = {
        parts.GREETING: greeting(reader.name),
        parts.UNSUBSCRIBE_URL: reader.unsubscribe_url,
        parts.PREFERENCES_URL: reader.preferences_url,
    }
    text, html = edition.text, edition.html
    for placeholder, value in values.items():
        text, html = text.replace(placeholder, value), html.replace(placeholder, value)
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.from_address
    message["To"] = reader.email
    message["Subject"] = edition.subject
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain=settings.sending_domain)
    message["List-Id"] = f"<{settings.list_id}>"
    unsubscribe = f"<{reader.unsubscribe_url}>"
    if reader.mailto_unsubscribe:
        unsubscribe += f", <{reader.mailto_unsubscribe}>"
    message["List-Unsubscribe"] = unsubscribe
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for part in calendars:
        message.add_attachment(
            part.ics, maintype="application", subtype="ics", filename=part.filename
        )
    return message.as_bytes()
