"""A real SMTP server on loopback for tests (aiosmtpd), with scripted refusals.

Usage (tests/conftest.py builds its SMTP fixtures on this)::

    with running_smtp_server() as server:
        server.refuse("bad@example.org", 550)            # every time
        server.refuse("busy@example.org", 451, times=1)  # once, then accept
        server.refuse("x@example.org", 421)    # reply 421, then close the session
        server.refuse_command("MAIL", 550)      # MAIL FROM refused (or "DATA": the message)
        server.rule = lambda rcpt: (451, "4.7.1 slow down") if ... else None
        transport = SMTPTransport(server.url)
        ...
        server.messages        # ReceivedMessage(mail_from, rcpt_tos, data)
        server.connections     # connections accepted since start
        server.open_sessions() # the numbers of the sessions open now (one each, in order)
        server.drop_connections()  # the server closes every open session

``running_smtp_server(credentials=("user", "pass"))`` requires AUTH PLAIN/LOGIN
(allowed without TLS, on loopback only).  The server announces PIPELINING
(RFC 2920) unless started with ``pipelining=False``; aiosmtpd reads commands
in order from one stream, so it serves pipelined clients as they expect.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["ReceivedMessage", "SMTPTestServer", "free_port", "running_smtp_server"]

Reply = tuple[int, str]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted: the envelope and the exact DATA bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _refusal(smtp: SMTP, reply: Reply) -> str:
    """The reply line; after a 421 the session closes, as RFC 5321 section 3.8 says."""
    if reply[0] == 421 and smtp.transport is not None:
        asyncio.get_running_loop().call_soon(smtp.transport.close)
    return f"{reply[0]} {reply[1]}"


class _Handler:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_EHLO(  # noqa: N802 (aiosmtpd hook name)
        self, smtp: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.server.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(  # noqa: N802 (aiosmtpd hook name)
        self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.server._command_reply("MAIL")
        if reply is not None:
            return _refusal(smtp, reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.server._reply_for(address)
        if reply is not None:
            return _refusal(smtp, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, smtp: SMTP, session: Any, envelope: Any
    ) -> str:
        reply = self.server._command_reply("DATA")
        if reply is not None:
            return _refusal(smtp, reply)
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
        )
        with self.server._lock:
            self.server.messages.append(message)
        return "250 Message accepted for delivery"


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP protocol, counting and tracking connections."""

    def __init__(self, test_server: SMTPTestServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._test_server = test_server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._test_server._lock:
            self._test_server.connections += 1
            self.number = next(self._test_server._session_numbers)
            self._test_server._open.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with self._test_server._lock:
            self._test_server._open.discard(self)
        super().connection_lost(exc)


class _Controller(Controller):
    def __init__(self, test_server: SMTPTestServer, **kwargs: Any) -> None:
        self._test_server = test_server
        super().__init__(_Handler(test_server), **kwargs)

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # AUTH without TLS is what we want on loopback; aiosmtpd warns about it.
            warnings.simplefilter("ignore", UserWarning)
            return _CountingSMTP(self._test_server, self.handler, **self.SMTP_kwargs)


class SMTPTestServer:
    """An aiosmtpd server on 127.0.0.1 in a background thread."""

    def __init__(
        self, credentials: tuple[str, str] | None = None, *, pipelining: bool = True
    ) -> None:
        self.port = free_port()
        self.credentials = credentials
        self.pipelining = pipelining
        self.messages: list[ReceivedMessage] = []
        self.connections = 0
        self.rule: Callable[[str], Reply | None] | None = None
        self._refusals: dict[str, tuple[int, str, int | None]] = {}
        self._command_refusals: dict[str, tuple[int, str, int | None]] = {}
        self._open: set[_CountingSMTP] = set()
        self._session_numbers = itertools.count(1)
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {"auth_require_tls": False}
        if credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def url(self) -> str:
        """``smtp://[user:pass@]127.0.0.1:port`` for this server."""
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"smtp://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()
        # The controller's own readiness probe was a connection: don't count it.
        with self._lock:
            self.connections = 0

    def stop(self) -> None:
        self._controller.stop()

    def refuse(self, address: str, code: int, text: str = "", *, times: int | None = None) -> None:
        """Answer RCPT TO ``address`` with ``code`` (every time, or the next ``times``)."""
        default = "5.1.1 mailbox unavailable" if code >= 500 else "4.3.0 try again later"
        with self._lock:
            self._refusals[address.lower()] = (code, text or default, times)

    def refuse_command(
        self, command: str, code: int, text: str = "", *, times: int | None = None
    ) -> None:
        """Answer ``MAIL`` (MAIL FROM) or ``DATA`` (the message's end) with ``code``."""
        if command not in ("MAIL", "DATA"):
            raise ValueError(f"refuse_command takes MAIL or DATA, not {command!r}")
        default = "5.7.1 refused" if code >= 500 else "4.3.0 try again later"
        with self._lock:
            self._command_refusals[command] = (code, text or default, times)

    def _reply_for(self, address: str) -> Reply | None:
        reply = self._take(self._refusals, address.lower())
        if reply is not None:
            return reply
        return self.rule(address) if self.rule is not None else None

    def _command_reply(self, command: str) -> Reply | None:
        return self._take(self._command_refusals, command)

    def _take(self, refusals: dict[str, tuple[int, str, int | None]], key: str) -> Reply | None:
        """The scripted reply for ``key``, counting down its ``times``."""
        with self._lock:
            refusal = refusals.get(key)
            if refusal is None:
                return None
            code, text, times = refusal
            if times is not None:
                if times <= 1:
                    del refusals[key]
                else:
                    refusals[key] = (code, text, times - 1)
            return code, text

    def _authenticate(
        self, smtp: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            given = (data.login.decode(), data.password.decode())
            if given == self.credentials:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def open_sessions(self) -> frozenset[int]:
        """The numbers of the sessions open now; each session has its own, in order.

        A session leaves the set once the server has done with it: whatever
        its client wrote before going away has been read and answered (or
        dropped with the connection), so no message can arrive on it later.
        """
        with self._lock:
            return frozenset(session.number for session in self._open)

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Close every open session from the server's side, as an idle timeout would."""
        loop = self._controller.loop
        with self._lock:
            sessions = list(self._open)
        for session in sessions:
            if session.transport is not None:
                loop.call_soon_threadsafe(session.transport.close)
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)

    def received_by(self, address: str) -> list[ReceivedMessage]:
        with self._lock:
            return [m for m in self.messages if address in m.rcpt_tos]


@contextmanager
def running_smtp_server(
    credentials: tuple[str, str] | None = None, *, pipelining: bool = True
) -> Iterator[SMTPTestServer]:
    """Start an SMTPTestServer for the ``with`` block and stop it afterwards."""
    server = SMTPTestServer(credentials, pipelining=pipelining)
    server.start()
    try:
        yield server
    finally:
        server.stop()
