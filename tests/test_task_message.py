"""Tasks written straight to a Redis broker are the messages Celery itself would write.

``newsletter.dispatch.task_message`` publishes without Celery's client; here
its message is compared with the one Celery's own ``send_task`` puts on the
same real Redis, field by field.  That a Celery worker runs such a message
(and a whole send through it, each message once) is shown end to end in
tests/test_dispatch_celery.py.  Tasks with a countdown, and brokers other
than Redis, still go through Celery.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from celery_harness import RedisServer, redis_server
from redis import Redis
from smtp_server import free_port

from newsletter.config import reset_settings
from newsletter.dispatch import task_message
from newsletter.dispatch.celery_app import app_for_settings
from newsletter.dispatch.queue import QUEUE_OF, CeleryQueue

__all__ = ["redis_server"]

# Differ between any two messages: the task's id and its copies, the delivery
# tag, the sending process.  ``reply_to`` names the sending Celery app, for
# replies through an RPC result backend, which the product does not use.
PER_MESSAGE_HEADERS = {"id", "root_id", "origin"}
PER_MESSAGE_PROPERTIES = {"correlation_id", "delivery_tag", "reply_to"}


def _queued(url: str, queue: str) -> list[dict[str, Any]]:
    client = Redis.from_url(url)
    try:
        # LPUSH puts the newest first; a worker pops from the other end.
        return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]
    finally:
        client.close()


def _body(envelope: dict[str, Any]) -> Any:
    assert envelope["properties"]["body_encoding"] == "base64"
    return json.loads(base64.b64decode(envelope["body"]))


@pytest.fixture
def redis_broker(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", redis_server.url)
    reset_settings()
    yield redis_server.url
    reset_settings()


def test_a_message_written_directly_matches_celerys_own(redis_broker: str) -> None:
    queue = QUEUE_OF["deliver_batch"]
    app_for_settings().send_task(
        "newsletter.deliver_batch", args=[7, [1, 2, 3]], queue=queue, task_id="celery-made"
    )
    task_message.publish(
        redis_broker, "newsletter.deliver_batch", [7, [1, 2, 3]], queue, "written-here"
    )

    celerys, ours = _queued(redis_broker, queue)
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == "written-here"
    assert ours["properties"]["correlation_id"] == "written-here"
    assert ours["properties"]["delivery_tag"] != celerys["properties"]["delivery_tag"]
    assert _body(ours) == _body(celerys)
    assert _body(ours)[:2] == [[7, [1, 2, 3]], {}]
    for envelope in (celerys, ours):
        for field in PER_MESSAGE_HEADERS:
            envelope["headers"].pop(field)
        for field in PER_MESSAGE_PROPERTIES:
            envelope["properties"].pop(field, None)
        envelope.pop("body")
    assert ours == celerys


def test_the_queue_writes_tasks_due_now_to_their_redis_queues(redis_broker: str) -> None:
    # Through the queue the product uses: each name goes to its own queue.
    CeleryQueue().enqueue("plan_send", 41)
    CeleryQueue().enqueue("recover")
    (plan,) = _queued(redis_broker, "plan")
    (recover,) = _queued(redis_broker, "maintenance")
    assert plan["headers"]["task"] == "newsletter.plan_send" and _body(plan)[0] == [41]
    assert recover["headers"]["task"] == "newsletter.recover" and _body(recover)[0] == []
    with pytest.raises(KeyError):
        CeleryQueue().enqueue("no_such_task")


def test_a_task_with_a_countdown_goes_through_celery_with_its_eta(redis_broker: str) -> None:
    CeleryQueue().enqueue("deliver_batch", 3, [9], countdown=30, task_id="later")
    (queued,) = _queued(redis_broker, "deliver")
    assert queued["headers"]["id"] == "later"
    assert queued["headers"]["eta"] is not None, "Celery writes the due time"


def test_a_broker_url_with_a_password_and_a_database_is_honoured(
    redis_server: RedisServer,
) -> None:
    port = redis_server.port
    Redis(port=port).config_set("requirepass", "s3cret/pass")
    try:
        url = f"redis://:s3cret%2Fpass@127.0.0.1:{port}/3"
        task_id = task_message.publish(url, "newsletter.recover", [], "maintenance")
        (raw,) = Redis(port=port, password="s3cret/pass", db=3).lrange("maintenance", 0, -1)
        assert json.loads(raw)["headers"]["id"] == task_id
        assert Redis(port=port, password="s3cret/pass", db=0).llen("maintenance") == 0
        with pytest.raises(task_message.BrokerError, match="refused"):
            task_message.publish(
                f"redis://:wrong@127.0.0.1:{port}/3", "newsletter.recover", [], "maintenance"
            )
    finally:
        Redis(port=port, password="s3cret/pass").config_set("requirepass", "")


def test_an_unreachable_broker_is_a_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(task_message.BrokerError, match=r"could not publish newsletter\.recover"):
        task_message.publish(url, "newsletter.recover", [], "maintenance")


def test_another_broker_is_sent_to_through_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kombu's in-memory transport: a real Celery publish and a real consumer, one process.
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", "memory://")
    reset_settings()
    try:
        assert not task_message.accepts("memory://")
        assert not task_message.accepts("rediss://127.0.0.1:6380/0")
        CeleryQueue().enqueue("plan_send", 12, task_id="via-celery")
        with app_for_settings().connection_for_read() as connection:
            received = connection.SimpleQueue("plan").get(timeout=5)
        assert received.headers["task"] == "newsletter.plan_send"
        assert received.headers["id"] == "via-celery"
        assert received.payload[0] == [12]
        received.ack()
    finally:
        reset_settings()
