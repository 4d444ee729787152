"""MIME assembly once per (send, segment) and per-recipient splicing.

The public names live here; the package is split by concern:
``headers`` (encoding and injection checks), ``pipeline`` (the named header
steps), ``bodies`` (quoted-printable splicing), ``recipient`` and ``template``.
"""

from __future__ import annotations

from newsletter.message.headers import HeaderInjectionError, MessageError
from newsletter.message.pipeline import (
    RECIPIENT_STEPS,
    TEMPLATE_STEPS,
    Draft,
    HeaderOptions,
    RecipientSuppressedError,
)
from newsletter.message.recipient import Recipient, greeting
from newsletter.message.template import AttendeeFunction, MessageTemplate
from newsletter.transports.base import OutgoingMessage

__all__ = [
    "RECIPIENT_STEPS",
    "TEMPLATE_STEPS",
    "AttendeeFunction",
    "Draft",
    "HeaderInjectionError",
    "HeaderOptions",
    "MessageError",
    "MessageTemplate",
    "OutgoingMessage",
    "Recipient",
    "RecipientSuppressedError",
    "greeting",
]
