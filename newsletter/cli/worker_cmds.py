"""``newsletter worker`` and ``newsletter beat``: Celery, or the embedded loop."""

from __future__ import annotations

import time

import typer

from newsletter.cli.common import console, fail, prepare_store, require_secret


def worker_command(
    concurrency: int = typer.Option(2, "--concurrency", "-c", help="Worker processes."),
    queues: str = typer.Option("plan,deliver,maintenance", "--queues", "-Q"),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Start a Celery worker (with BROKER_URL) or the embedded worker loop (without).

    Refuses to start without a usable secret key (see ``newsletter init``).
    """
    from newsletter.config import get_settings

    prepare_store()
    require_secret()
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

    folder = get_settings().state_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"NEWSLETTER_DATA_DIR {folder}: cannot create it ({exc.strerror})")
    # Beat remembers when each periodic task last ran; in the installation's
    # own folder, so two installations on one host never share the file.
    schedule = folder / "beat-schedule"
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])
