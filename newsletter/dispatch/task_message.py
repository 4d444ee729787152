"""Publishing a task straight to a Redis broker, as a Celery task message.

A command that only starts a send (``newsletter send``) would otherwise load
Celery's client and open its connection for one message: about 0.1 s of its
start-up, and redis-py another 35 ms (docs/performance.md, "Time to first
message").  With a ``redis://`` broker, :func:`publish` writes the message
itself, exactly as Celery's Redis transport would: Celery's message protocol
version 2 (headers naming the task and its id, a JSON body of
``[args, kwargs, embed]``) in the transport's envelope (the body in base64,
the delivery properties beside it), pushed with ``LPUSH`` onto the list named
after the queue, over one short connection speaking the Redis protocol
(RESP).  A Celery worker cannot tell it from a message sent by Celery, and
acknowledges, redelivers and retries it the same way.

Only tasks due at once take this path; a task with a countdown (a retry or
a rate-limit back-off), a ``rediss://`` (TLS) broker or any other kind goes
through Celery (``newsletter.dispatch.queue.CeleryQueue``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

# As Celery's default publish retry policy: three more tries, 0, 0.2 and 0.4 s apart.
RETRY_DELAYS = (0.0, 0.2, 0.4)
TIMEOUT_SECONDS = 5.0


class BrokerError(ConnectionError):
    """The Redis broker could not be reached, or refused the message."""


def accepts(broker_url: str) -> bool:
    """Whether :func:`publish` can write to this broker (a plain ``redis://`` URL)."""
    return broker_url.startswith("redis://")


def message(
    task: str, args: list[Any], queue: str, task_id: str | None = None
) -> tuple[str, bytes]:
    """The (task id, encoded message) that Celery's Redis transport would push for this task.

    ``task`` is the Celery task name; ``args`` must be JSON-able.
    """
    task_id = task_id or str(uuid.uuid4())
    # Protocol 2 body: positional args, keyword args, and no callbacks, chain or chord.
    body = json.dumps(
        [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    ).encode()
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": f"gen{os.getpid()}@{socket.gethostname()}",
        "ignore_result": None,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,  # the transport's default priority: the list named ``queue``
            "body_encoding": "base64",
            # The transport keys its record of unacknowledged messages by this tag.
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return task_id, json.dumps(envelope).encode()


def publish(
    broker_url: str, task: str, args: list[Any], queue: str, task_id: str | None = None
) -> str:
    """Push task ``task`` with ``args`` onto ``queue`` of the Redis broker; returns its id.

    Retried as Celery retries a publish; raises :class:`BrokerError` when
    every try failed.  As with Celery, a try whose reply was lost may have
    pushed the message already, so a task can arrive twice: every task is
    idempotent (docs/architecture.md, "Rows before tasks").
    """
    address, setup = _connection_plan(broker_url)
    task_id, payload = message(task, args, queue, task_id)
    commands = [*setup, command(b"LPUSH", queue.encode(), payload)]
    for delay in (*RETRY_DELAYS, None):
        try:
            _run(address, commands)
            return task_id
        except OSError as exc:  # BrokerError included
            if delay is None:
                raise BrokerError(f"could not publish {task} to the broker: {exc}") from exc
            time.sleep(delay)
    raise AssertionError("unreachable")


def command(*parts: bytes) -> bytes:
    """One Redis command in the Redis protocol (RESP): an array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _connection_plan(url: str) -> tuple[tuple[str, int], list[bytes]]:
    """(host, port) of a ``redis://`` URL and the AUTH and SELECT commands it asks for."""
    parts = urlsplit(url)
    setup = []
    if parts.password is not None:
        user = [unquote(parts.username).encode()] if parts.username else []
        setup.append(command(b"AUTH", *user, unquote(parts.password).encode()))
    database = parts.path.strip("/") or "0"
    if not database.isdigit():
        raise BrokerError(f"the broker URL names database {database!r}, not a number")
    if database != "0":
        setup.append(command(b"SELECT", database.encode()))
    return (parts.hostname or "localhost", parts.port or 6379), setup


def _run(address: tuple[str, int], commands: list[bytes]) -> None:
    """Send ``commands`` on a new connection; raise BrokerError on an error reply."""
    with (
        socket.create_connection(address, timeout=TIMEOUT_SECONDS) as connection,
        connection.makefile("rb") as replies,
    ):
        connection.sendall(b"".join(commands))
        for _ in commands:
            reply = replies.readline()
            if not reply.endswith(b"\r\n"):
                raise BrokerError("the broker closed the connection")
            if reply.startswith(b"-"):
                refusal = reply[1:].decode(errors="replace").strip()
                raise BrokerError(f"the broker refused: {refusal}")
