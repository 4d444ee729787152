"""Bounces and complaints: VERP return paths, DSN and ARF parsing, intake rules, sources.

``verp``     signed per-delivery envelope senders and their reverse mapping
``dsn``      RFC 3464 delivery status notifications (flufl.bounce fallback)
``arf``      RFC 5965 complaint reports
``intake``   one message in, one BounceResult out, rules applied
``sources``  Maildir / mbox / .eml, a polled IMAP or POP3 mailbox, a webhook
``models``   bounce_events and bounce_set_aside (migration 0003)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.bounces.intake import BounceResult, ingest_message
    from newsletter.bounces.sources import handle_webhook, ingest_path, poll_mailbox
    from newsletter.bounces.verp import delivery_from_verp, verp_address

# Public name → submodule.  Loaded on first use (PEP 562), so the worker that
# only needs ``verp`` does not import the DSN parsers and flufl.bounce.
_LAZY = {
    "BounceResult": "intake",
    "ingest_message": "intake",
    "handle_webhook": "sources",
    "ingest_path": "sources",
    "poll_mailbox": "sources",
    "delivery_from_verp": "verp",
    "verp_address": "verp",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "BounceResult",
    "delivery_from_verp",
    "handle_webhook",
    "ingest_message",
    "ingest_path",
    "poll_mailbox",
    "verp_address",
]
