"""The SMTP exchange: refusals at each step, on both client paths, and PIPELINING itself.

Every test that takes ``smtp_server`` runs twice against a real aiosmtpd server
on loopback: once announcing PIPELINING (RFC 2920), so the transport sends
MAIL, RCPT and DATA as one group, and once not, so smtplib speaks one command
at a time.  The outcome a caller sees must be the same on both.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from io import BufferedIOBase

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smtp_server import SMTPTestServer, running_smtp_server

from newsletter.transports import OutgoingMessage, SMTPTransport, TransportError
from newsletter.transports.smtp_pipelining import dot_stuffed

SENDER = "bounces@mail.example.org"
BODY = b"Subject: exchange test\r\n\r\n.starts with a dot\r\nline two\r\n"


def message(*recipients: str, data: bytes = BODY) -> OutgoingMessage:
    return OutgoingMessage(SENDER, recipients, data, "<exchange@mail.example.org>")


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def smtp_server(request: pytest.FixtureRequest) -> Iterator[SMTPTestServer]:
    with running_smtp_server(pipelining=request.param) as server:
        yield server


def test_mail_from_refused_is_permanent_and_names_no_recipient(
    smtp_server: SMTPTestServer,
) -> None:
    smtp_server.refuse_command("MAIL", 550, times=1)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("a@example.org"))
        error = caught.value
        assert (error.permanent, error.code, error.recipient) == (True, 550, None)
        # The session was reset: the same connection carries the next message.
        transport.send(message("b@example.org"))
        assert transport.connections_opened == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("b@example.org",)]


@pytest.mark.parametrize(("code", "permanent"), [(554, True), (451, False)])
def test_message_refused_at_its_end(
    smtp_server: SMTPTestServer, code: int, permanent: bool
) -> None:
    smtp_server.refuse_command("DATA", code, times=1)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("a@example.org"))
        error = caught.value
        assert (error.permanent, error.code, error.recipient) == (permanent, code, None)
        transport.send(message("a@example.org"))
        assert transport.connections_opened == 1
    assert len(smtp_server.messages) == 1


def test_some_recipients_refused_the_others_get_the_message(
    smtp_server: SMTPTestServer,
) -> None:
    smtp_server.refuse("gone@example.org", 550)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("a@example.org", "gone@example.org", "c@example.org"))
        error = caught.value
        assert (error.permanent, error.code, error.recipient) == (True, 550, "gone@example.org")
        transport.send(message("d@example.org"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("a@example.org", "c@example.org"),
        ("d@example.org",),
    ]


def test_every_recipient_refused_sends_nothing(smtp_server: SMTPTestServer) -> None:
    smtp_server.refuse("gone@example.org", 550)
    smtp_server.refuse("busy@example.org", 452)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("gone@example.org", "busy@example.org"))
        # The first refusal is the one reported.
        assert (caught.value.code, caught.value.recipient) == (550, "gone@example.org")
        transport.send(message("ok@example.org"))
        assert transport.connections_opened == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ok@example.org",)]


def test_421_closes_the_session_and_the_next_send_reconnects(
    smtp_server: SMTPTestServer,
) -> None:
    smtp_server.refuse("late@example.org", 421, "4.3.2 shutting down", times=1)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("late@example.org"))
        assert (caught.value.permanent, caught.value.code) == (False, 421)
        transport.send(message("late@example.org"))
        assert transport.connections_opened == 2
    assert [m.rcpt_tos for m in smtp_server.messages] == [("late@example.org",)]


@pytest.mark.parametrize(
    ("recipients", "sender", "named"),
    [
        (("a@example.org\r\nRCPT TO:<x@evil.example>",), SENDER, 0),
        (("ok@example.org", "spaced address@example.org"), SENDER, 1),
        (("ok@example.org",), "bounces@mail.example.org>\r\nDATA", None),
    ],
)
def test_unusable_envelope_address_is_refused_before_anything_is_sent(
    smtp_server: SMTPTestServer,
    recipients: tuple[str, ...],
    sender: str,
    named: int | None,
) -> None:
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(OutgoingMessage(sender, recipients, BODY, "<x@mail.example.org>"))
        assert caught.value.permanent is True
        assert caught.value.recipient == (recipients[named] if named is not None else None)
    assert smtp_server.messages == []
    assert smtp_server.connections == 0


def test_null_reverse_path_is_allowed(smtp_server: SMTPTestServer) -> None:
    with SMTPTransport(smtp_server.url) as transport:
        transport.send(OutgoingMessage("", ("a@example.org",), BODY, "<x@mail.example.org>"))
    assert [(m.mail_from, m.data) for m in smtp_server.messages] == [("<>", BODY)]


class _ScriptedServer:
    """A raw SMTP peer that answers MAIL, RCPT and DATA only once all three have arrived.

    A client that waited for each reply before its next command would wait
    forever here (until the timeout), so a delivered message proves the
    commands came as one pipelined group.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.group = b""
        self.message = b""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
            with connection, connection.makefile("rwb") as stream:
                connection.settimeout(5)
                _say(stream, b"220 scripted ESMTP\r\n")
                assert stream.readline().upper().startswith(b"EHLO ")
                _say(stream, b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                self.group = _read_until(stream, b"DATA\r\n", "before DATA")
                _say(stream, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n")
                self.message = _read_until(stream, b"\r\n.\r\n", "inside the message")
                _say(stream, b"250 2.0.0 queued\r\n")
                assert stream.readline().upper() == b"QUIT\r\n"
                _say(stream, b"221 bye\r\n")
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def close(self) -> None:
        self._thread.join(timeout=10)
        self._listener.close()


def _say(stream: BufferedIOBase, replies: bytes) -> None:
    stream.write(replies)
    stream.flush()


def _read_until(stream: BufferedIOBase, end: bytes, where: str) -> bytes:
    """Lines from the client up to and including the one that makes the text end with ``end``."""
    received = b""
    while not received.endswith(end):
        line = stream.readline()
        assert line, f"the client stopped {where}"
        received += line
    return received


def test_mail_rcpt_and_data_travel_as_one_group() -> None:
    server = _ScriptedServer()
    try:
        with SMTPTransport(f"smtp://127.0.0.1:{server.port}?timeout=5") as transport:
            transport.send(message("a@example.org"))
    finally:
        server.close()
    assert server.error is None
    assert server.group == (
        b"MAIL FROM:<bounces@mail.example.org>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
    )
    assert server.message == BODY.replace(b"\n.", b"\n..") + b".\r\n"


@given(st.binary().map(lambda b: b.translate(bytes.maketrans(b"\x00\x01\x02", b".\r\n"))))
def test_dot_stuffing_doubles_every_line_starting_dot(data: bytes) -> None:
    # RFC 5321 section 4.5.2, line by line (a line starts after any LF, as in smtplib).
    expected = b"\n".join(
        b"." + line if line.startswith(b".") else line for line in data.split(b"\n")
    )
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert dot_stuffed(data) == expected + b".\r\n"


def test_a_dot_free_message_goes_out_as_it_is(smtp_server: SMTPTestServer) -> None:
    """A message promising no line-leading dot is sent unstuffed, and arrives unchanged."""
    data = b"Subject: dot free\r\n\r\nno =2Edots here\r\n=2E\r\n"
    assert dot_stuffed(data, dot_free=True) == data + b".\r\n"
    with SMTPTransport(smtp_server.url) as transport:
        transport.send(
            OutgoingMessage(SENDER, ("a@example.org",), data, "<free@mail.example.org>", None, True)
        )
    assert [m.data for m in smtp_server.messages] == [data]
