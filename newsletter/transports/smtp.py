"""SMTP delivery over persistent connections, with errors classified for retry.

URL forms (credentials percent-encoded)::

    smtp://host:25                      plain SMTP
    smtp://user:pass@host:587?starttls=1   STARTTLS (RFC 3207) before AUTH
    smtps://user:pass@host:465          implicit TLS (RFC 8314)

Query parameters: ``starttls=1``, ``timeout=30`` (seconds), ``verify=0`` to
skip certificate checks (local test servers only), ``helo=name``.

Where the server announces PIPELINING (RFC 2920) a message takes two round
trips instead of four (``newsletter.transports.smtp_pipelining``); otherwise
smtplib's ``sendmail`` speaks one command at a time.
"""

from __future__ import annotations

import contextlib
import queue
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.errors import UserError
from newsletter.transports.base import OutgoingMessage, Transport, TransportError
from newsletter.transports.smtp_pipelining import Reply, pipelined_sendmail

__all__ = ["SMTPPool", "SMTPSettings", "SMTPTransport", "parse_smtp_url"]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
# What may stand between the angle brackets of MAIL FROM and RCPT TO here:
# printable ASCII without spaces or brackets.  Anything else (a CR or LF
# above all, which would smuggle in a command) is refused before sending.
_ENVELOPE_ADDRESS: Final = re.compile(r"[!-;=?-~]+")


class SmtpUrlError(UserError, ValueError):
    """The SMTP URL setting cannot be used."""


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    """Connection settings parsed from an SMTP URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False
    timeout: float = 30.0
    verify: bool = True
    helo: str | None = None


def parse_smtp_url(url: str) -> SMTPSettings:
    """Parse ``smtp://`` / ``smtps://`` URLs; raises ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise SmtpUrlError(f"SMTP URL must start with smtp:// or smtps://, not {parts.scheme!r}")
    if not parts.hostname:
        raise SmtpUrlError("SMTP URL has no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    return SMTPSettings(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
        starttls=query.get("starttls", "0").lower() in _TRUE,
        timeout=float(query.get("timeout", "30")),
        verify=query.get("verify", "1").lower() in _TRUE,
        helo=query.get("helo") or None,
    )


def _permanent(code: int) -> bool:
    # RFC 5321 section 4.2.1: 5yz is a permanent negative completion reply.
    return 500 <= code <= 599


class SMTPTransport(Transport):
    """One persistent SMTP connection, opened on first send and reused.

    ``send`` raises TransportError:

    * permanent=True, recipient set: RCPT TO refused with 5xx (suppress it);
    * permanent=True, recipient None: MAIL FROM or DATA refused with 5xx;
    * permanent=False, code set: a 4xx reply (try again later);
    * permanent=False, code None: connection, TLS or authentication failure,
      or the server dropped the connection twice in a row.

    When the server has dropped an idle connection (SMTPServerDisconnected),
    it reconnects once and retries.  After a refused transaction the session
    is reset with RSET (RFC 5321 section 4.1.1.5) so the connection stays
    usable.  Not thread-safe: use one per thread, or :class:`SMTPPool`.
    """

    def __init__(self, url: str) -> None:
        self.settings = parse_smtp_url(url)
        self._smtp: smtplib.SMTP | None = None
        self.connections_opened = 0

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.implicit_tls:
                context = self._tls_context()
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=s.helo, timeout=s.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.helo, timeout=s.timeout)
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if s.username is not None:
                smtp.login(s.username, s.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            # Connection, TLS and AUTH failures say nothing about the message:
            # never permanent, so the engine retries and pauses rather than
            # failing (and suppressing) recipients for a configuration problem.
            code = getattr(exc, "smtp_code", None)
            raise TransportError(
                f"cannot connect to {s.host}:{s.port}: {exc}", permanent=False, code=code
            ) from exc
        self.connections_opened += 1
        return smtp

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None or self._smtp.sock is None:
            self._smtp = self._connect()
        return self._smtp

    def send(self, message: OutgoingMessage) -> None:
        """Send ``message``; see the class docstring for the errors raised."""
        _check_envelope(message)
        for attempt in (1, 2):
            smtp = self._connection()
            try:
                refused = _sendmail(smtp, message)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                # ConnectionError: writing to a socket the server already closed.
                self._drop()
                if attempt == 2:
                    raise TransportError(f"server disconnected: {exc}", permanent=False) from exc
                continue  # an idle connection timed out on the server: reconnect once
            except smtplib.SMTPRecipientsRefused as exc:
                address, (code, reply) = next(iter(exc.recipients.items()))
                self._after_refusal(code)
                raise TransportError(
                    f"recipient {address} refused: {code} {_text(reply)}",
                    permanent=_permanent(code),
                    code=code,
                    recipient=address,
                ) from exc
            except smtplib.SMTPResponseException as exc:
                # SMTPSenderRefused (MAIL FROM) and SMTPDataError (DATA).
                self._after_refusal(exc.smtp_code)
                raise TransportError(
                    f"server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
                    permanent=_permanent(exc.smtp_code),
                    code=exc.smtp_code,
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise TransportError(f"SMTP failure: {exc}", permanent=False) from exc
            if refused:
                # Some of several recipients refused; the others have the message.
                address, (code, reply) = next(iter(refused.items()))
                raise TransportError(
                    f"recipient {address} refused: {code} {_text(reply)}",
                    permanent=_permanent(code),
                    code=code,
                    recipient=address,
                )
            return

    def _after_refusal(self, code: int) -> None:
        # Both sendmail paths end a refused transaction with RSET, except
        # after 421 (service closing, RFC 5321 section 3.8), where they close
        # the socket: forget the connection then, so the next send reconnects.
        if code == 421 or self._smtp is None or self._smtp.sock is None:
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        """QUIT and close the connection, if open; safe to call twice."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.sock is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _check_envelope(message: OutgoingMessage) -> None:
    """Refuse, as a permanent error, envelope addresses SMTP cannot carry as they are.

    An empty ``envelope_from`` is the null reverse-path ``<>`` (RFC 5321
    section 4.5.5) and is allowed.
    """
    for address in message.recipients:
        if not _ENVELOPE_ADDRESS.fullmatch(address):
            raise TransportError(
                f"recipient {address!r} cannot be sent in an SMTP envelope",
                permanent=True,
                recipient=address,
            )
    if message.envelope_from and not _ENVELOPE_ADDRESS.fullmatch(message.envelope_from):
        raise TransportError(
            f"sender {message.envelope_from!r} cannot be sent in an SMTP envelope",
            permanent=True,
        )


def _sendmail(smtp: smtplib.SMTP, message: OutgoingMessage) -> dict[str, Reply]:
    """One transaction, pipelined where the server allows it; smtplib's errors."""
    if smtp.has_extn("pipelining"):
        return pipelined_sendmail(
            smtp,
            message.envelope_from,
            message.recipients,
            message.data,
            dot_free=message.dot_free,
        )
    return smtp.sendmail(message.envelope_from, list(message.recipients), message.data)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class SMTPPool(Transport):
    """Up to ``size`` persistent SMTP connections shared by threads.

    ``send`` borrows a connection (blocking while all are busy), sends, and
    returns it; errors are those of :class:`SMTPTransport`.  Thread-safe.
    """

    def __init__(self, url: str, size: int = 4) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        parse_smtp_url(url)  # fail early on a bad URL
        self._url = url
        self._idle: queue.LifoQueue[SMTPTransport] = queue.LifoQueue()
        self._all: list[SMTPTransport] = []
        self._size = size
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def _borrow(self) -> SMTPTransport:
        self._slots.acquire()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            transport = SMTPTransport(self._url)
            with self._lock:
                self._all.append(transport)
            return transport

    def send(self, message: OutgoingMessage) -> None:
        """Send over an idle pooled connection; see SMTPTransport.send for errors."""
        transport = self._borrow()
        try:
            transport.send(message)
        finally:
            self._idle.put(transport)
            self._slots.release()

    @property
    def connections_opened(self) -> int:
        """How many SMTP connections the pool has opened in all (reconnects included)."""
        with self._lock:
            return sum(t.connections_opened for t in self._all)

    def close(self) -> None:
        """Close every pooled connection (idle ones now; a later send opens afresh)."""
        with self._lock:
            transports = list(self._all)
        for transport in transports:
            transport.close()
