"""An in-memory transport for tests, shipped in the package (after anymail's test backend).

Tests use it through the ordinary :class:`Transport` interface instead of
mocking ``send`` by name, and can make it fail chosen recipients the way an
SMTP server would.
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from newsletter.transports.base import OutgoingMessage, Transport, TransportError

__all__ = ["InMemoryTransport"]


@dataclass
class _Failure:
    code: int
    reply: str
    times: int | None  # None: every time


class InMemoryTransport(Transport):
    """Records every message sent; thread-safe.

    ``fail(address, code)`` makes sends to ``address`` raise TransportError as
    an SMTP server's RCPT TO refusal would: permanent for 5xx, temporary for
    4xx, with ``recipient`` set; ``times=n`` fails only the next n sends.
    """

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []
        self.attempts = 0
        self.closed = False
        self._failures: dict[str, _Failure] = {}
        self._lock = threading.Lock()

    def fail(
        self, address: str, code: int = 550, reply: str = "", *, times: int | None = None
    ) -> None:
        """Make sends to ``address`` fail with SMTP reply ``code`` (all, or the next ``times``)."""
        if not 400 <= code <= 599:
            raise ValueError("failure codes are 4xx or 5xx")
        default = "mailbox unavailable" if code >= 500 else "try again later"
        self._failures[address.lower()] = _Failure(code, reply or default, times)

    def send(self, message: OutgoingMessage) -> None:
        """Record ``message``, or raise TransportError for a recipient told to fail."""
        with self._lock:
            self.attempts += 1
            for address in message.recipients:
                failure = self._failures.get(address.lower())
                if failure is None:
                    continue
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        del self._failures[address.lower()]
                raise TransportError(
                    f"recipient {address} refused: {failure.code} {failure.reply}",
                    permanent=failure.code >= 500,
                    code=failure.code,
                    recipient=address,
                )
            self.messages.append(message)

    def sent_to(self, address: str) -> list[OutgoingMessage]:
        """The messages delivered to ``address``."""
        with self._lock:
            return [m for m in self.messages if address.lower() in map(str.lower, m.recipients)]

    def parsed(self) -> list[EmailMessage]:
        """Every delivered message parsed with ``email.policy.default``."""
        with self._lock:
            data = [m.data for m in self.messages]
        return [email.message_from_bytes(d, policy=email.policy.default) for d in data]

    def clear(self) -> None:
        """Forget recorded messages and attempts (failure rules stay)."""
        with self._lock:
            self.messages.clear()
            self.attempts = 0

    def close(self) -> None:
        """Mark the transport closed; it still accepts sends, as tests may reuse it."""
        self.closed = True
