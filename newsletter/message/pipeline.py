"""Outbound headers as small named steps, one concern each (after Mailman's pipelines).

Two pipelines run at different times:

* :data:`TEMPLATE_STEPS` run once per template and return constant header
  fields (From/Reply-To/Subject, List-Id, Feedback-ID), folded and encoded once.
* :data:`RECIPIENT_STEPS` run once per recipient on a :class:`Draft` and
  append pre-encoded header lines or set the envelope (suppression check,
  envelope sender, To, Message-ID/Date, List-Unsubscribe, delivery id).

A step is a plain function; a template can be built with other tuples of
steps (for example VERP in place of :func:`envelope_sender`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from newsletter.message.headers import (
    MessageError,
    check_value,
    date_header_value,
    encode_address,
    fold_constant,
)
from newsletter.message.recipient import Recipient

__all__ = [
    "RECIPIENT_STEPS",
    "TEMPLATE_STEPS",
    "Draft",
    "HeaderOptions",
    "RecipientStep",
    "RecipientSuppressedError",
    "TemplateStep",
    "delivery_header",
    "envelope_sender",
    "feedback_id_header",
    "from_reply_to_subject",
    "list_id_header",
    "list_unsubscribe",
    "message_id_and_date",
    "stable_message_id",
    "suppression_check",
    "to_header",
]


class RecipientSuppressedError(MessageError):
    """The suppression hook said this address must not be mailed."""


@dataclass(frozen=True, slots=True)
class HeaderOptions:
    """The constant inputs of the header steps, fixed when the template is built.

    ``is_suppressed`` is consulted per recipient (a last line of defence; the
    engine checks suppressions itself after claiming a batch, when it reads
    the claimed rows with their subscribers).  ``envelope_from``, when given,
    chooses the SMTP MAIL FROM per recipient: the engine passes the delivery's
    VERP address (``newsletter.bounces.verp``).
    """

    from_address: str
    reply_to: str | None
    subject: str
    list_id: str
    list_name: str | None
    feedback_id: str | None
    sending_domain: str
    is_suppressed: Callable[[str], bool] | None = None
    envelope_from: Callable[[Recipient], str] | None = None
    message_id_key: bytes | None = None
    # The From address's addr-spec, parsed once: the default envelope sender.
    default_envelope_from: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_envelope_from", parseaddr(self.from_address)[1])


@dataclass(slots=True)
class Draft:
    """Per-recipient state the recipient steps fill in."""

    recipient: Recipient
    headers: list[bytes] = field(default_factory=list)
    envelope_from: str = ""
    message_id: str = ""


TemplateStep = Callable[[HeaderOptions], list[tuple[str, str]]]
RecipientStep = Callable[[HeaderOptions, Draft], None]


# --- once per template -------------------------------------------------------


def from_reply_to_subject(options: HeaderOptions) -> list[tuple[str, str]]:
    """From, Reply-To (when set) and Subject (RFC 5322 section 3.6.2 and 3.6.5)."""
    fields = [("From", options.from_address)]
    if options.reply_to:
        fields.append(("Reply-To", options.reply_to))
    fields.append(("Subject", options.subject))
    return fields


def list_id_header(options: HeaderOptions) -> list[tuple[str, str]]:
    """List-Id (RFC 2919): an optional phrase and the list's identifier in angle brackets."""
    list_id = check_value("List-Id", options.list_id).strip("<> ")
    if options.list_name:
        return [("List-Id", f"{options.list_name} <{list_id}>")]
    return [("List-Id", f"<{list_id}>")]


def feedback_id_header(options: HeaderOptions) -> list[tuple[str, str]]:
    """Feedback-ID for Gmail's feedback loop: ``a:b:c:SenderId``, when configured."""
    return [("Feedback-ID", options.feedback_id)] if options.feedback_id else []


def bulk_headers(options: HeaderOptions) -> list[tuple[str, str]]:
    """Auto-Submitted (RFC 3834 §5) and Precedence: bulk on every message we send.

    They tell vacation responders and out-of-office rules not to answer (RFC 3834
    §2; Exchange and Gmail honour Precedence: bulk).  Constant per template, so
    they cost nothing per recipient.
    """
    return [("Auto-Submitted", "auto-generated"), ("Precedence", "bulk")]


TEMPLATE_STEPS: tuple[TemplateStep, ...] = (
    from_reply_to_subject,
    list_id_header,
    feedback_id_header,
    bulk_headers,
)


def build_constant_headers(options: HeaderOptions, steps: tuple[TemplateStep, ...]) -> bytes:
    """Run the template steps and return their header lines, encoded and CRLF-terminated."""
    return b"".join(fold_constant(name, value) for step in steps for name, value in step(options))


# --- once per recipient ------------------------------------------------------


def suppression_check(options: HeaderOptions, draft: Draft) -> None:
    """Raise RecipientSuppressedError when the hook says the address is suppressed."""
    if options.is_suppressed is not None and options.is_suppressed(draft.recipient.email):
        raise RecipientSuppressedError(f"{draft.recipient.email} is suppressed")


def envelope_sender(options: HeaderOptions, draft: Draft) -> None:
    """Set the SMTP MAIL FROM (RFC 5321 reverse-path; the receiver's Return-Path).

    Defaults to the From address so bounces reach the organisation; the
    ``envelope_from`` hook replaces it (VERP).
    """
    if options.envelope_from is not None:
        sender = options.envelope_from(draft.recipient)
    else:
        sender = options.default_envelope_from
    draft.envelope_from = check_value("envelope sender", sender)


def to_header(options: HeaderOptions, draft: Draft) -> None:
    """To with the recipient's name (RFC 2047 encoded-words when non-ASCII)."""
    r = draft.recipient
    draft.headers.append(b"To: " + encode_address(r.name, r.email).encode("ascii") + b"\r\n")


def stable_message_id(key: bytes, delivery_id: int, domain: str) -> str:
    """The Message-ID of delivery ``delivery_id``, the same on every attempt and resend.

    ``<{delivery id}.{tag}@{From domain}>``, the tag a keyed BLAKE2b of the
    delivery id (64 bits).  The key (see ``newsletter.dispatch``) is derived
    from the installation's secret and the send's identity, so two
    installations, or a store rebuilt from scratch, never reuse an id for a
    different message, while a message sent twice after a crash carries the
    same id twice and receivers and clients that deduplicate on Message-ID
    merge the copies (RFC 5322 section 3.6.4: one id per message, never reused
    for another).  Costs about a microsecond.
    """
    tag = hashlib.blake2b(b"%d" % delivery_id, key=key, digest_size=8).hexdigest()
    return f"<{delivery_id}.{tag}@{domain}>"


def message_id_and_date(options: HeaderOptions, draft: Draft) -> None:
    """The Message-ID at the sending domain and the Date (RFC 5322 section 3.6.1, 3.6.4).

    A delivery's id is :func:`stable_message_id` when the template has a key;
    otherwise (previews, test copies) the id joins the delivery id, the time
    and 64 random bits, unique across recipients and processes without
    coordination.
    """
    delivery = draft.recipient.delivery_id
    if delivery is not None and options.message_id_key is not None:
        draft.message_id = stable_message_id(
            options.message_id_key, delivery, options.sending_domain
        )
    else:
        prefix = f"{delivery}." if delivery is not None else ""
        draft.message_id = (
            f"<{prefix}{time.time_ns() // 1_000_000}.{secrets.token_hex(8)}"
            f"@{options.sending_domain}>"
        )
    draft.headers.append(
        f"Message-ID: {draft.message_id}\r\nDate: {date_header_value()}\r\n".encode("ascii")
    )


def _angle_uri(name: str, uri: str) -> str:
    check_value(name, uri)
    if not uri.isascii() or any(c in uri for c in " <>,"):
        raise MessageError(f"{name} URI must be ASCII without spaces, <, > or commas: {uri!r}")
    return f"<{uri}>"


def list_unsubscribe(options: HeaderOptions, draft: Draft) -> None:
    """List-Unsubscribe (RFC 2369) with HTTPS first, and List-Unsubscribe-Post (RFC 8058).

    RFC 8058 one-click needs an HTTPS URI in List-Unsubscribe and the exact
    ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; the mailto URI is
    kept for clients that only do mail.  The two URIs are folded onto two
    lines to stay under the 78-character line recommendation.
    """
    r = draft.recipient
    uris = [_angle_uri("List-Unsubscribe", r.unsubscribe_url)]
    if r.mailto_unsubscribe:
        uris.append(_angle_uri("List-Unsubscribe", r.mailto_unsubscribe))
    draft.headers.append(
        b"List-Unsubscribe: "
        + ",\r\n ".join(uris).encode("ascii")
        + b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    )


def delivery_header(options: HeaderOptions, draft: Draft) -> None:
    """X-Newsletter-Delivery: the Delivery row's id, so bounces and replies trace back."""
    if draft.recipient.delivery_id is not None:
        draft.headers.append(b"X-Newsletter-Delivery: %d\r\n" % draft.recipient.delivery_id)


RECIPIENT_STEPS: tuple[RecipientStep, ...] = (
    suppression_check,
    envelope_sender,
    to_header,
    message_id_and_date,
    list_unsubscribe,
    delivery_header,
)
