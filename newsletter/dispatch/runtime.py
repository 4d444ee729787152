"""Per-process state of a worker: the transport, the rate limiter and message templates.

A worker process keeps one transport (so SMTP connections persist across
batches) and builds each (send, segment) message template once from the
stored edition.  Everything is created lazily, after Celery forks.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.orm import Session

from newsletter import editions
from newsletter.bounces.verp import verp_address
from newsletter.config import get_settings
from newsletter.dispatch.ratelimit import RateLimiter, limiter_from_settings
from newsletter.message import MessageTemplate
from newsletter.transports import Transport, transport_from_settings

# Templates kept per process; a worker rarely serves more than a few sends at once.
TEMPLATE_CACHE_SIZE = 64


class Runtime:
    """The transport, limiter and template cache of this process."""

    def __init__(self, transport: Transport | None = None) -> None:
        self._transport = transport
        self._limiter: RateLimiter | None = None
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
        template = MessageTemplate.build(
            edition,
            calendar_parts,
            feedback_id=f"{send_id}:{segment}:newsletter:{get_settings().sending_domain}",
            # VERP: the bounce of this message names its delivery (newsletter.bounces).
            envelope_from=lambda r: verp_address(r.delivery_id or 0),
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
