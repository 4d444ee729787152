"""Publishing a task straight to a Redis broker, as a Celery task message.

A command that only starts a send (``newsletter send``) would otherwise load
Celery's client and open its connection for one message: about 0.1 s of its
start-up (docs/performance.md, "Time to first message").  With a ``redis://``
or ``rediss://`` broker, :func:`publish` writes the message itself, with
redis-py, exactly as Celery's Redis transport would: Celery's message protocol
version 2 (headers naming the task and its id, a JSON body of
``[args, kwargs, embed]``) in the transport's envelope (the body in base64,
the delivery properties beside it), pushed onto the list named after the
queue.  A Celery worker cannot tell it from a message sent by Celery, and
acknowledges, redelivers and retries it the same way.

Only tasks due at once take this path; a task with a countdown (a retry or
a rate-limit back-off), or any other kind of broker, goes through Celery
(``newsletter.dispatch.queue.CeleryQueue``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

SCHEMES = ("redis://", "rediss://")

_clients: dict[str, redis.Redis] = {}


def accepts(broker_url: str) -> bool:
    """Whether :func:`publish` can write to this broker (a Redis URL)."""
    return broker_url.startswith(SCHEMES)


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
    headers = {
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

    Raises redis-py's ``ConnectionError`` (after its own retries) when the
    broker cannot be reached, as Celery raises when its publish retries run out.
    """
    task_id, payload = message(task, args, queue, task_id)
    _client(broker_url).lpush(queue, payload)
    return task_id


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=5.0, socket_connect_timeout=5.0
        )
    return client
