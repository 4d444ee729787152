"""The Celery app's configuration: what makes delivery safe under crashes."""

from __future__ import annotations

from newsletter.dispatch.queue import QUEUE_OF, TASKS, task_function
from workers.celery_app import QUEUES, app


def test_json_only_late_acks_and_no_prefetch_hoarding() -> None:
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert {q.name for q in conf.task_queues} == set(QUEUES) == {"plan", "deliver", "maintenance"}


def test_every_task_is_registered_routed_and_runnable_in_process() -> None:
    import workers.tasks  # noqa: F401 (registers the tasks)

    for name, queue in QUEUE_OF.items():
        assert f"newsletter.{name}" in app.tasks, name
        assert app.conf.task_routes[f"newsletter.{name}"] == {"queue": queue}
        assert callable(task_function(name))
    assert set(QUEUE_OF) == set(TASKS)


def test_beat_runs_due_sends_reminders_recovery_and_bounces() -> None:
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled == {
        "newsletter.dispatch_due",
        "newsletter.send_reminders",
        "newsletter.recover",
        "newsletter.poll_bounces",
    }
