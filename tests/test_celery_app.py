"""The Celery app's configuration: what makes delivery safe under crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery_harness import RedisServer, redis_server, wait_for, worker_environment

from newsletter.config import reset_settings
from newsletter.dispatch.celery_app import make_app
from newsletter.dispatch.queue import QUEUE_OF, TASKS, task_function
from workers.celery_app import QUEUES, app

__all__ = ["redis_server"]  # fixture used below


def test_json_only_late_acks_and_no_prefetch_hoarding() -> None:
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert {q.name for q in conf.task_queues} == set(QUEUES) == {"plan", "deliver", "maintenance"}


def test_the_visibility_timeout_comes_from_the_settings_and_is_swept_in_proportion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert app.conf.broker_transport_options["visibility_timeout"] == 600  # the default
    monkeypatch.setenv("NEWSLETTER_BROKER_VISIBILITY_TIMEOUT_SECONDS", "3")
    reset_settings()
    try:
        options = make_app().conf.broker_transport_options
    finally:
        monkeypatch.delenv("NEWSLETTER_BROKER_VISIBILITY_TIMEOUT_SECONDS")
        reset_settings()
    assert options["visibility_timeout"] == 3
    # Looked for every second, each look a real scan: a copy comes within 4 s.
    assert options["unacked_restore_interval"] == 1
    assert options["unacked_restore_throttle"] == 1


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


def test_recovery_runs_often_enough_to_take_back_a_dead_workers_rows_within_a_minute() -> None:
    """A lapsed lease plus the wait for the next recovery stays under a minute."""
    from newsletter.config import Settings

    recover = next(
        e["schedule"] for e in app.conf.beat_schedule.values() if e["task"] == "newsletter.recover"
    )
    assert Settings().lease_seconds + recover < 60


def test_beat_keeps_its_schedule_in_the_data_directory(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """``newsletter beat`` writes its schedule file under NEWSLETTER_DATA_DIR, not in /tmp."""
    data_dir = tmp_path / "state"
    env = worker_environment(
        {
            "NEWSLETTER_BROKER_URL": redis_server.url,
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "NEWSLETTER_DATA_DIR": str(data_dir),
        }
    )
    beat = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "beat", "--loglevel", "info"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: list(data_dir.glob("beat-schedule*")),
            timeout=60,
            what="beat's schedule file in the data directory",
        )
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)


def test_state_dir_defaults_beside_the_sqlite_store(tmp_path: Path) -> None:
    from newsletter.config import Settings

    store = tmp_path / "deep" / "newsletter.db"
    assert Settings(database_url=f"sqlite:///{store}").state_dir == store.parent
    assert Settings(database_url="postgresql://h/db").state_dir == Path(".")
    assert Settings(data_dir=str(tmp_path)).state_dir == tmp_path
