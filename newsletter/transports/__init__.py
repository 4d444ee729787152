"""Transports: SMTP (persistent, pooled), an outbox folder of .eml files, and in-memory."""

from __future__ import annotations

from newsletter.config import Settings, get_settings
from newsletter.transports.base import OutgoingMessage, Transport, TransportError
from newsletter.transports.memory import InMemoryTransport
from newsletter.transports.outbox import OutboxTransport
from newsletter.transports.smtp import SMTPPool, SMTPTransport

__all__ = [
    "InMemoryTransport",
    "OutboxTransport",
    "OutgoingMessage",
    "SMTPPool",
    "SMTPTransport",
    "Transport",
    "TransportError",
    "transport_from_settings",
]


def transport_from_settings(settings: Settings | None = None) -> Transport:
    """Return an SMTPTransport when ``smtp_url`` is set, else an OutboxTransport on ``outbox_dir``,
    DKIM-signing every message when the DKIM settings are given.

    One persistent SMTP connection per call (per worker process); wrap in
    SMTPPool for threads.  Raises ValueError for a malformed SMTP URL.
    """
    s = settings or get_settings()
    transport: Transport = (
        SMTPTransport(s.smtp_url) if s.smtp_url else OutboxTransport(s.outbox_dir)
    )
    if not s.dkim_requested:
        return transport
    # DKIM signing, when configured, wraps whichever transport carries the mail.
    # Imported only then: the DKIM and DNS libraries cost every worker process
    # a tenth of a second of CPU before its first message.
    from newsletter.transports.dkim import SigningTransport, signer_from_settings

    signer = signer_from_settings(s)
    return SigningTransport(transport, signer) if signer is not None else transport
