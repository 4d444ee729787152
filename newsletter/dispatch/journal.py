"""The result journal: which deliveries the mail server accepted, written the moment it said so.

The store records results in groups (``newsletter.dispatch.recording``), so a
worker killed mid-batch leaves messages sent but not yet recorded.  Without
more, recovery would send them again.  The journal closes that gap: right
after the server's 250 for a message, the worker writes ``delivery id →
Message-ID`` into a Redis hash per send (``newsletter:journal:<send id>``),
before it does anything else; once the group holding that result is
committed to the store, its entries are removed.  Whoever takes rows back
after a crash (recovery, or the batch's own redelivery) first *settles* the
journal: the rows it names are recorded as sent, with the Message-ID they
went out with, and are not sent again.  What is left is a message whose 250
arrived in the microseconds before its journal write, at most one per SMTP
connection that was mid-message at the kill.

Cost: the writes go over a connection of their own in ``CLIENT REPLY OFF``
mode, so a write is one ``send`` system call and no wait for Redis (see
benchmarks/journal_cost.py for the figure).  The kernel delivers bytes
already written even if the process is killed the next instant (a closed
socket with nothing unread ends with FIN, not RST).  The price of not
waiting: a write into a connection Redis has just dropped is lost unnoticed;
the result is still held by the worker and recorded in the store as usual,
so only a worker killed during a Redis outage can send such a message twice.

Without Redis (the embedded worker, one process) there is no journal: a
process that dies takes its queue with it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from newsletter.config import Settings, get_settings
from newsletter.db import id_in, session_scope
from newsletter.dispatch.result_store import ResultGroup, write_group
from newsletter.models import Delivery, DeliveryStatus, SendEdition

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# Entries of a send that nobody settled (its workers all died and recovery
# never ran) vanish after this long rather than stay in Redis for ever.
KEEP_SECONDS = 7 * 24 * 3600
# After a failed write, the next attempt to reconnect waits this long.
RECONNECT_SECONDS = 1.0


def journal_key(send_id: int) -> str:
    """The Redis hash of send ``send_id``'s journal."""
    return f"newsletter:journal:{send_id}"


def _command(*parts: bytes) -> bytes:
    """One command in RESP, Redis's wire format (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class Journal(Protocol):
    """Where a worker notes each accepted message until the store has it."""

    def sent(self, send_id: int, delivery_id: int, message_id: str) -> None:
        """Note that the server accepted delivery ``delivery_id`` (never raises)."""

    def forget(self, send_id: int, delivery_ids: Sequence[int]) -> None:
        """Drop entries the store now holds (never raises)."""

    def close(self) -> None:
        """Close the connection."""


class NoJournal:
    """No journal (no Redis): every method does nothing."""

    def sent(self, send_id: int, delivery_id: int, message_id: str) -> None:
        return None

    def forget(self, send_id: int, delivery_ids: Sequence[int]) -> None:
        return None

    def close(self) -> None:
        return None


class RedisJournal:
    """Journal writes to Redis without waiting for replies (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._password = unquote(parts.password) if parts.password else None
        self._username = unquote(parts.username) if parts.username else None
        path = parts.path.strip("/")
        self._db = int(path) if path.isdigit() else 0
        self._tls = parts.scheme == "rediss"
        self._socket: socket.socket | None = None
        # While Redis is unreachable, writes are skipped until this monotonic
        # time rather than each paying a failed connect (and a log line).
        self._down_until = 0.0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self._address, timeout=5.0)
        if self._tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._address[0])
        # Each write goes out at once, not held back to coalesce with the next.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        setup: list[bytes] = []
        if self._password is not None:
            auth = [b"AUTH"]
            if self._username:
                auth.append(self._username.encode())
            setup.append(_command(*auth, self._password.encode()))
        if self._db:
            setup.append(_command(b"SELECT", str(self._db).encode()))
        for command in setup:
            sock.sendall(command)
            reply = reader.readline()
            if not reply.startswith(b"+"):
                sock.close()
                raise OSError(f"redis refused the journal connection: {reply!r}")
        sock.sendall(_command(b"CLIENT", b"REPLY", b"OFF"))
        return sock

    def _write(self, data: bytes) -> None:
        if self._down_until and time.monotonic() < self._down_until:
            return
        for attempt in (1, 2):
            try:
                if self._socket is None:
                    self._socket = self._connect()
                self._socket.sendall(data)
            except OSError as exc:
                self._drop()
                if attempt == 2:
                    if not self._down_until:
                        log.warning("result journal unavailable (%s); results kept in memory", exc)
                    self._down_until = time.monotonic() + RECONNECT_SECONDS
            else:
                if self._down_until:
                    log.warning("result journal available again")
                    self._down_until = 0.0
                return

    def _drop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    def sent(self, send_id: int, delivery_id: int, message_id: str) -> None:
        self._write(
            b"*4\r\n$4\r\nHSET\r\n"
            + _bulk(journal_key(send_id).encode())
            + _bulk(b"%d" % delivery_id)
            + _bulk(message_id.encode())
        )

    def forget(self, send_id: int, delivery_ids: Sequence[int]) -> None:
        if not delivery_ids:
            return
        key = journal_key(send_id).encode()
        self._write(
            _command(b"HDEL", key, *(b"%d" % d for d in delivery_ids))
            + _command(b"EXPIRE", key, b"%d" % KEEP_SECONDS)
        )

    def close(self) -> None:
        self._drop()


def _bulk(part: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(part), part)


def journal_from_settings(settings: Settings | None = None) -> Journal:
    """A Redis journal when the broker is Redis and the journal is on; else none."""
    s = settings or get_settings()
    if s.result_journal and s.broker_url and s.broker_url.startswith(("redis://", "rediss://")):
        return RedisJournal(s.broker_url)
    return NoJournal()


def read_entries(send_id: int, delivery_ids: Iterable[int] | None = None) -> dict[int, str]:
    """The journal's entries of a send (all, or for ``delivery_ids``): delivery id → Message-ID.

    Empty without a Redis broker.  Raises redis errors (callers decide).
    """
    client = _reader()
    if client is None:
        return {}
    key = journal_key(send_id)
    if delivery_ids is None:
        raw = client.hgetall(key)
        return {int(k): _text(v) for k, v in raw.items()}
    ids = list(delivery_ids)
    if not ids:
        return {}
    values = client.hmget(key, [str(i) for i in ids])
    return {i: _text(v) for i, v in zip(ids, values, strict=True) if v is not None}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def drop_entries(send_id: int, delivery_ids: Sequence[int]) -> None:
    """Remove settled entries (waiting for Redis's answer)."""
    client = _reader()
    if client is not None and delivery_ids:
        client.hdel(journal_key(send_id), *(str(i) for i in delivery_ids))


def sends_with_entries() -> list[int]:
    """Ids of sends whose journal holds entries."""
    client = _reader()
    if client is None:
        return []
    prefix = journal_key(0)[:-1]
    return sorted(int(k.decode()[len(prefix) :]) for k in client.scan_iter(f"{prefix}*"))


_clients: dict[str, redis.Redis] = {}


def _reader() -> redis.Redis | None:
    """A waiting client of the journal's Redis, or None when there is no journal."""
    s = get_settings()
    if not (
        s.result_journal and s.broker_url and s.broker_url.startswith(("redis://", "rediss://"))
    ):
        return None
    import redis

    client = _clients.get(s.broker_url)
    if client is None:
        client = _clients[s.broker_url] = redis.Redis.from_url(s.broker_url, socket_timeout=5.0)
    return client


def settle(send_id: int, delivery_ids: Sequence[int]) -> set[int]:
    """Record as sent the rows among ``delivery_ids`` that the journal names; returns them all.

    Called on claimed rows before anything is sent again: by a batch on the
    rows it has just claimed (its own, after a redelivery) and by recovery on
    the rows of a dead worker.  Every id returned went out once and must not
    be sent again, whatever its row says.  Raises the store's or Redis's
    errors: then nothing may be sent, and the caller stops.
    """
    entries = read_entries(send_id, delivery_ids)
    if not entries:
        return set()
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.subscriber_id, Delivery.segment).where(
                id_in(session, Delivery.id, list(entries)),
                Delivery.status == DeliveryStatus.CLAIMED,
            )
        ).all()
        events = {
            e.segment: [int(i) for i in e.event_ids]
            for e in session.scalars(select(SendEdition).where(SendEdition.send_id == send_id))
        }
    group = ResultGroup(had_success=True, size=len(rows))
    for delivery_id, subscriber_id, segment in rows:
        group.sent.append({"did": int(delivery_id), "mid": entries[int(delivery_id)]})
        group.event_recipients.extend(
            {"event_id": e, "subscriber_id": subscriber_id, "first_delivery_id": delivery_id}
            for e in events.get(segment, [])
        )
    if rows:
        write_group(send_id, group)
    drop_entries(send_id, list(entries))
    log.warning(
        "send %s: %s messages found in the result journal, recorded as sent, not sent again"
        " (%s of them claimed)",
        send_id,
        len(entries),
        len(rows),
    )
    return set(entries)
