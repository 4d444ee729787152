"""The one small transport interface every way of sending mail implements.

A transport takes a finished :class:`OutgoingMessage` (envelope plus the exact
bytes to send) and either delivers it or raises :class:`TransportError`, whose
``permanent`` flag tells the dispatch engine whether retrying can help.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from newsletter.errors import NewsletterError

__all__ = ["OutgoingMessage", "Transport", "TransportError"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message ready for the wire.

    ``envelope_from`` is the SMTP MAIL FROM (RFC 5321 reverse-path, which the
    receiver records as Return-Path); ``recipients`` the RCPT TO addresses;
    ``data`` the complete message with CRLF line endings (RFC 5322), not yet
    dot-stuffed; ``message_id`` the Message-ID header value, angle brackets
    included.  ``delivery_id`` names the Delivery row when there is one.

    ``dot_free`` is the producer's promise that no line of ``data`` begins
    with "." (the message templates encode such dots in their bodies), so an
    SMTP transport sends ``data`` after DATA as it is, without dot-stuffing
    (RFC 5321 section 4.5.2).  Looking for dots to double costs about 25 µs
    per 25 KB message (docs/performance.md); whoever changes ``data`` must
    not carry the promise over unless it still holds.
    """

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str
    delivery_id: int | None = None
    dot_free: bool = False


class TransportError(NewsletterError):
    """Sending failed.

    ``permanent`` is True when the server gave a 5xx reply (RFC 5321 section
    4.2.1: do not repeat the same request), False for 4xx replies, timeouts
    and connection problems (retry later).  ``code`` is the SMTP reply code
    when there was one.  ``recipient`` is set only when the refusal concerns
    that address (RCPT TO was refused); the engine should suppress an address
    only when ``permanent`` and ``recipient`` are both set, since a 5xx to
    MAIL FROM or DATA says more about the sender or the content.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        recipient: str | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.recipient = recipient

    def __repr__(self) -> str:
        return (
            f"TransportError({str(self)!r}, permanent={self.permanent}, "
            f"code={self.code}, recipient={self.recipient!r})"
        )


class Transport(abc.ABC):
    """Delivers :class:`OutgoingMessage` values; use as a context manager to close it.

    Implementations may keep connections open between sends (that is the
    point of an SMTP transport); :meth:`close` releases them and is safe to
    call twice.  A transport instance is not assumed to be thread-safe unless
    it says so (``SMTPPool`` and ``InMemoryTransport`` are).
    """

    @abc.abstractmethod
    def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` or raise TransportError (see its ``permanent`` flag)."""

    def close(self) -> None:  # noqa: B027 (optional hook: most transports hold nothing)
        """Release connections and files; the default holds nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
