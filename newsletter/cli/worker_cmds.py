"""``newsletter worker`` and ``newsletter beat``: Celery, or the embedded loop."""

from __future__ import annotations

import time

import typer

from newsletter.cli.common import console, prepare_store


def worker_command(
    concurrency: int = typer.Option(2, "--concurrency", "-c", help="Worker processes."),
    queues: str = typer.Option("plan,deliver,maintenance", "--queues", "-Q"),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Start a Celery worker (with BROKER_URL) or the embedded worker loop (without)."""
    from newsletter.config import get_settings

    prepare_store()
    if not get_settings().broker_url:
        from newsletter.dispatch.embedded import EmbeddedWorker

        console.print("No NEWSLETTER_BROKER_URL: running the embedded worker (Ctrl-C stops).")
        worker = EmbeddedWorker(interval=2.0)
        worker.start()
        try:
            while worker.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            worker.stop()
        return
    from workers.celery_app import app

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def beat_command(loglevel: str = typer.Option("info", "--loglevel")) -> None:
    """Start Celery beat: due sends, event reminders, recovery of stuck deliveries."""
    from newsletter.config import get_settings

    if not get_settings().broker_url:
        console.print(
            "Beat needs NEWSLETTER_BROKER_URL; without it `newsletter worker` does its job."
        )
        raise typer.Exit(2)
    prepare_store()
    from workers.celery_app import app

    app.start(["beat", f"--loglevel={loglevel}", "--schedule=/tmp/newsletter-beat-schedule"])
