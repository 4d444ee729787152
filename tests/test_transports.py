"""Transports against a real SMTP server on loopback, the outbox folder and the memory transport."""

from __future__ import annotations

import email
import email.policy
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_server import SMTPTestServer, free_port, running_smtp_server

from newsletter.config import Settings
from newsletter.message import MessageTemplate, Recipient
from newsletter.parts import GREETING, UNSUBSCRIBE_URL, RenderedEdition
from newsletter.transports import (
    InMemoryTransport,
    OutboxTransport,
    OutgoingMessage,
    SMTPPool,
    SMTPTransport,
    TransportError,
    transport_from_settings,
)
from newsletter.transports.smtp import parse_smtp_url

SETTINGS = Settings(
    secret_key="transport-test-secret",
    base_url="https://news.example.org",
    from_address="Network <updates@mail.example.org>",
)
TEMPLATE = MessageTemplate.build(
    RenderedEdition(
        update_id=1,
        segment="dcs",
        segment_name="DCS",
        subject="Update",
        preheader="",
        html=f"<p>{GREETING}</p>\n<p>.dot</p>\n<a href='{UNSUBSCRIBE_URL}'>Unsubscribe</a>\n",
        text=f"{GREETING}\n.leading dot\n..two dots\nUnsubscribe: {UNSUBSCRIBE_URL}\n",
    ),
    [],
    settings=SETTINGS,
)


def message(address: str, delivery_id: int = 1) -> OutgoingMessage:
    recipient = Recipient.for_subscriber(
        address, "Test Person", delivery_id, delivery_id, settings=SETTINGS
    )
    return TEMPLATE.outgoing(recipient)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def smtp_server(request: pytest.FixtureRequest) -> Iterator[SMTPTestServer]:
    """A server that announces PIPELINING, then one that does not: both client paths."""
    with running_smtp_server(pipelining=request.param) as server:
        yield server


def test_delivers_exact_bytes_over_one_persistent_connection(smtp_server: SMTPTestServer) -> None:
    sent = [message(f"p{n}@example.org", n) for n in range(1, 11)]
    with SMTPTransport(smtp_server.url) as transport:
        for m in sent:
            transport.send(m)
        assert transport.connections_opened == 1
    assert smtp_server.connections == 1
    assert len(smtp_server.messages) == 10
    for m, received in zip(sent, smtp_server.messages, strict=True):
        assert received.mail_from == "updates@mail.example.org"
        assert received.rcpt_tos == m.recipients
        # Dot-stuffing is undone by the server: the bytes arrive as built, CRLF and all.
        assert received.data == m.data
        parsed = email.message_from_bytes(received.data, policy=email.policy.default)
        assert parsed["Message-ID"] == m.message_id


def test_550_is_permanent_for_that_recipient(smtp_server: SMTPTestServer) -> None:
    smtp_server.refuse("gone@example.org", 550)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("gone@example.org"))
        error = caught.value
        assert (error.permanent, error.code, error.recipient) == (True, 550, "gone@example.org")
        # RSET after the failed transaction: the same connection carries on.
        transport.send(message("ok@example.org"))
    assert smtp_server.connections == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ok@example.org",)]


def test_451_is_temporary_and_a_retry_succeeds(smtp_server: SMTPTestServer) -> None:
    smtp_server.refuse("busy@example.org", 451, times=1)
    with SMTPTransport(smtp_server.url) as transport:
        with pytest.raises(TransportError) as caught:
            transport.send(message("busy@example.org"))
        assert (caught.value.permanent, caught.value.code) == (False, 451)
        assert caught.value.recipient == "busy@example.org"
        transport.send(message("busy@example.org"))
    assert len(smtp_server.received_by("busy@example.org")) == 1
    assert smtp_server.connections == 1


def test_rule_one_in_five(smtp_server: SMTPTestServer) -> None:
    smtp_server.rule = lambda rcpt: (451, "4.7.1 slow down") if rcpt.startswith("p5") else None
    outcomes = []
    with SMTPTransport(smtp_server.url) as transport:
        for n in range(1, 11):
            try:
                transport.send(message(f"p{n}@example.org", n))
                outcomes.append("sent")
            except TransportError as exc:
                outcomes.append(f"{exc.code}")
    assert outcomes.count("451") == 1
    assert outcomes.count("sent") == 9


def test_reconnects_once_after_server_drops_connection(smtp_server: SMTPTestServer) -> None:
    with SMTPTransport(smtp_server.url) as transport:
        transport.send(message("a@example.org"))
        smtp_server.drop_connections()
        assert smtp_server.open_connections == 0
        transport.send(message("b@example.org"))
        transport.send(message("c@example.org"))
        assert transport.connections_opened == 2
    assert smtp_server.connections == 2
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]


def test_connection_refused_is_temporary() -> None:
    transport = SMTPTransport(f"smtp://127.0.0.1:{free_port()}?timeout=2")
    with pytest.raises(TransportError) as caught:
        transport.send(message("a@example.org"))
    assert (caught.value.permanent, caught.value.code, caught.value.recipient) == (
        False,
        None,
        None,
    )


def test_server_gone_mid_session_is_temporary() -> None:
    with running_smtp_server() as server:
        transport = SMTPTransport(server.url)
        transport.send(message("a@example.org"))
    # The server stopped: the reconnect fails too, so the error is temporary.
    with pytest.raises(TransportError) as caught:
        transport.send(message("b@example.org"))
    assert caught.value.permanent is False
    transport.close()


def test_auth() -> None:
    with running_smtp_server(credentials=("user", "p@ss")) as server:
        url = server.url.replace("p@ss", "p%40ss")
        with SMTPTransport(url) as transport:
            transport.send(message("a@example.org"))
        assert len(server.messages) == 1
        with pytest.raises(TransportError) as caught:
            SMTPTransport(url.replace("p%40ss", "wrong")).send(message("a@example.org"))
        # A configuration problem, never a reason to suppress the recipient.
        assert caught.value.permanent is False and caught.value.recipient is None


def test_pool_shares_connections_between_threads(smtp_server: SMTPTestServer) -> None:
    pool = SMTPPool(smtp_server.url, size=3)
    errors: list[BaseException] = []

    def work(start: int) -> None:
        try:
            for n in range(start, start + 20):
                pool.send(message(f"p{n}@example.org", n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 100,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(smtp_server.messages) == 120
    assert len({m.rcpt_tos for m in smtp_server.messages}) == 120
    assert 1 <= smtp_server.connections <= 3
    assert pool.connections_opened == smtp_server.connections
    pool.close()
    assert smtp_server.open_connections == 0 or _eventually_closed(smtp_server)


def _eventually_closed(server: SMTPTestServer) -> bool:
    server.drop_connections(timeout=0)  # no-op when QUIT already closed them
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.open_connections == 0


def test_parse_smtp_url() -> None:
    s = parse_smtp_url("smtps://me%40x.org:se%2Fcret@mail.example.org")
    assert (s.host, s.port, s.implicit_tls, s.username, s.password) == (
        "mail.example.org",
        465,
        True,
        "me@x.org",
        "se/cret",
    )
    s = parse_smtp_url("smtp://mail.example.org:587?starttls=1&timeout=5&verify=0")
    assert (s.port, s.starttls, s.timeout, s.verify, s.username) == (587, True, 5.0, False, None)
    assert parse_smtp_url("smtp://localhost").port == 25
    with pytest.raises(ValueError, match="smtp://"):
        parse_smtp_url("http://example.org")


def test_outbox_writes_one_file_per_message_atomically(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    sent = [message(f"p{n}@example.org", n) for n in range(1, 6)]
    with outbox:
        for m in sent:
            outbox.send(m)
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == [outbox.path_for(m).name for m in sent]
    assert all(f.name.startswith(f"d{n:06d}-") for n, f in enumerate(files, 1))
    for m, f in zip(sent, files, strict=True):
        assert f.read_bytes() == m.data
        parsed = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert parsed["Message-ID"] == m.message_id
    # No temporary files are left behind.
    assert not [name for name in os.listdir(tmp_path / "outbox") if not name.endswith(".eml")]


def test_outbox_failure_is_temporary_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = OutboxTransport(tmp_path, durable=True)

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(TransportError) as caught:
        outbox.send(message("a@example.org"))
    assert caught.value.permanent is False
    assert list(tmp_path.iterdir()) == []


def test_memory_transport_records_and_fails_on_request() -> None:
    transport = InMemoryTransport()
    transport.fail("bad@example.org", 550)
    transport.fail("slow@example.org", 451, times=2)
    transport.send(message("good@example.org"))
    with pytest.raises(TransportError) as caught:
        transport.send(message("bad@example.org"))
    assert (caught.value.permanent, caught.value.code) == (True, 550)
    for _ in range(2):
        with pytest.raises(TransportError) as caught:
            transport.send(message("slow@example.org"))
        assert (caught.value.permanent, caught.value.code) == (False, 451)
    transport.send(message("slow@example.org"))
    assert transport.attempts == 5
    assert [m.recipients for m in transport.messages] == [
        ("good@example.org",),
        ("slow@example.org",),
    ]
    assert len(transport.sent_to("SLOW@example.org")) == 1
    assert transport.parsed()[0]["To"].addresses[0].addr_spec == "good@example.org"
    with pytest.raises(ValueError):
        transport.fail("x@example.org", 250)


def test_transport_from_settings(tmp_path: Path) -> None:
    outbox = transport_from_settings(SETTINGS.model_copy(update={"outbox_dir": str(tmp_path)}))
    assert isinstance(outbox, OutboxTransport)
    smtp = transport_from_settings(SETTINGS.model_copy(update={"smtp_url": "smtp://h:2525"}))
    assert isinstance(smtp, SMTPTransport)
    assert smtp.settings.port == 2525
