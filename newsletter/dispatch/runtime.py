"""Per-process state of a worker: transport, rate limiter, result journal, message templates.

A worker process keeps one transport (so SMTP connections persist across
batches) and builds each (send, segment) message template once from the
stored edition.  Everything is created lazily, after Celery forks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter import editions
from newsletter.bounces.verp import verp_address
from newsletter.config import get_settings
from newsletter.dispatch.journal import Journal, journal_from_settings
from newsletter.dispatch.ratelimit import RateLimiter, limiter_from_settings
from newsletter.message import MessageTemplate
from newsletter.models import Send
from newsletter.transports import Transport, transport_from_settings

# Templates kept per process; a worker rarely serves more than a few sends at once.
TEMPLATE_CACHE_SIZE = 64


class Runtime:
    """The transport, limiter and template cache of this process."""

    def __init__(self, transport: Transport | None = None) -> None:
        self._transport = transport
        self._limiter: RateLimiter | None = None
        self._journal: Journal | None = None
        self._templates: OrderedDict[tuple[int, str], MessageTemplate] = OrderedDict()

    @property
    def transport(self) -> Transport:
        """The process's transport, created from settings on first use."""
        if self._transport is None:
            self._transport = transport_from_settings()
        return self._transport

    @property
    def limiter(self) -> RateLimiter:
        """The shared rate limiter, created from settings on first use."""
        if self._limiter is None:
            self._limiter = limiter_from_settings()
        return self._limiter

    @property
    def journal(self) -> Journal:
        """The result journal of this process, created from settings on first use."""
        if self._journal is None:
            self._journal = journal_from_settings()
        return self._journal

    def template(self, session: Session, send_id: int, segment: str) -> MessageTemplate:
        """The message template of (send, segment), built once from its stored edition.

        Raises LookupError when the send has no edition for ``segment``.
        """
        key = (send_id, segment)
        cached = self._templates.get(key)
        if cached is not None:
            self._templates.move_to_end(key)
            return cached
        edition, calendar_parts = editions.stored(session, send_id, segment)
        send = session.get(Send, send_id)
        if send is None:
            raise LookupError(f"send {send_id} does not exist")
        template = MessageTemplate.build(
            edition,
            calendar_parts,
            feedback_id=f"{send_id}:{segment}:newsletter:{get_settings().sending_domain}",
            # VERP: the bounce of this message names its delivery (newsletter.bounces).
            envelope_from=lambda r: verp_address(r.delivery_id or 0),
            message_id_key=message_id_key(send_id, send.created_at),
        )
        self._templates[key] = template
        if len(self._templates) > TEMPLATE_CACHE_SIZE:
            self._templates.popitem(last=False)
        return template

    def close(self) -> None:
        """Close the transport (ends SMTP sessions politely)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def message_id_key(send_id: int, created_at: datetime) -> bytes:
    """The key of the send's stable Message-IDs: the secret and the send's identity.

    Every worker derives the same key from the store, so a delivery keeps its
    Message-ID on every attempt; the creation time tells apart a send and its
    namesake in a store rebuilt from scratch with the same secret.
    """
    identity = f"message-id\0{send_id}\0{created_at.replace(tzinfo=None).isoformat()}\0"
    return hashlib.sha256(identity.encode() + get_settings().secret_key.encode()).digest()


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """This process's runtime."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime()
    return _runtime


def set_runtime(runtime: Runtime | None) -> Runtime | None:
    """Replace this process's runtime (tests inject a memory transport); returns the old one."""
    global _runtime
    old, _runtime = _runtime, runtime
    return old
