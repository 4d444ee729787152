"""The CLI imports only what the command it runs needs (docs/performance.md).

Each command runs in a fresh interpreter, through the same Typer app as the
``newsletter`` script; when it is done the interpreter prints the modules it
loaded, and the test checks that the heavy ones the command has no use for
are absent.  ``send`` is run against a real Redis broker, as in production:
it must store the send and enqueue its planning without loading the
renderer, the web app or Celery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery_harness import RedisServer, redis_server
from redis import Redis
from sqlalchemy import func, select

from newsletter.config import reset_settings
from newsletter.db import session_scope
from newsletter.ingest import parse_file
from newsletter.migrate import alembic_config, head_revision
from newsletter.models import Send, SendEdition
from newsletter.paths import SAMPLES_DIR
from newsletter.render.subject import render_subject
from newsletter.updates import load_update, store_update

__all__ = ["redis_server"]

ROOT = Path(__file__).resolve().parent.parent

# Run the CLI in-process, then print the top-level names of every module loaded.
RUN_AND_LIST = """
import json, sys
from newsletter.cli import app
try:
    app(sys.argv[1:], prog_name="newsletter")
except SystemExit as exit:
    code = exit.code
sys.stdout.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code or 0)
"""

# Never needed by `send` or by `--help`: the web app, the renderer (premailer
# and its lxml/cssutils), the calendar writer, Celery, Kombu and redis-py (on a
# Redis broker the planning task is written there directly, as a Celery
# message: newsletter.dispatch.task_message), the project's task modules, Alembic.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "premailer",
    "cssutils",
    "lxml",
    "jinja2",
    "icalendar",
    "celery",
    "kombu",
    "redis",
    "workers",
    "alembic",
    "newsletter.render",
    "newsletter.web",
    "newsletter.dispatch.planning",
    "newsletter.dispatch.delivery",
)


def _modules_of(
    args: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    marker = result.stdout.rfind("MODULES ")
    assert marker >= 0, f"no module list; stdout={result.stdout!r} stderr={result.stderr[-2000:]}"
    return result, set(json.loads(result.stdout[marker + len("MODULES ") :]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def _environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(settings)
    return env


def test_help_loads_neither_the_store_nor_the_engine() -> None:
    result, modules = _modules_of(["--help"], _environment())
    assert result.returncode == 0, result.stderr
    assert "send" in result.stdout
    loaded = [m for m in (*HEAVY, "sqlalchemy", "newsletter.models") if _loaded(modules, m)]
    assert loaded == []


# The review that ``send`` prints before asking shows each edition's subject,
# rendered from its template with Jinja2 (``newsletter.render.subject``); the
# HTML renderer (premailer, lxml, cssutils, ``newsletter.render.render``) and
# the calendar writer stay unloaded, and no edition is stored (see below).
SUBJECTS = ("jinja2", "newsletter.render")


def test_send_with_a_broker_stores_and_enqueues_without_the_web_or_the_worker(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = _environment(
        NEWSLETTER_DATABASE_URL=url,
        NEWSLETTER_BROKER_URL=redis_server.url,
        NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"),
    )
    # A first command creates the store (that one may migrate with Alembic).
    init = subprocess.run(
        [sys.executable, "-m", "newsletter", "init"], env=env, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    reset_settings()
    with session_scope() as session:
        update_id = store_update(
            session, parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update
        ).id
    result, modules = _modules_of(["send", str(update_id), "--segment", "dcs", "--yes"], env)
    assert result.returncode == 0, result.stderr
    loaded = [m for m in HEAVY if m not in SUBJECTS and _loaded(modules, m)]
    assert loaded == []
    assert "newsletter.render.render" not in modules
    assert "newsletter.render.subject" in modules
    with session_scope() as session:
        subject = render_subject(load_update(session, update_id), "dcs")
    assert subject in " ".join(result.stderr.split()), "the review shows the subject"
    send_id = int(result.stdout.split()[0])
    with session_scope() as session:
        send = session.get(Send, send_id)
        assert send is not None and send.status == "scheduled"
        # Due at once: the worker that plans it renders it (sends.create_send says why).
        editions = select(func.count()).where(SendEdition.send_id == send_id)
        assert session.scalar(editions) == 0
    # The planning task waits on the broker's plan queue for a worker.
    queued = Redis.from_url(redis_server.url).lrange("plan", 0, -1)
    assert len(queued) == 1 and b"newsletter.plan_send" in queued[0]


def test_schema_head_read_from_the_scripts_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize("command", [["subscribers", "--help"], ["sends", "--help"]])
def test_group_help_is_as_light_as_the_top(command: list[str]) -> None:
    result, modules = _modules_of(command, _environment())
    assert result.returncode == 0, result.stderr
    assert not _loaded(modules, "sqlalchemy")


def test_help_defaults_written_out_agree_with_the_modules_that_own_them() -> None:
    from newsletter.cli import send_cmds, web_cmds
    from newsletter.delivery_report import FILTERS
    from newsletter.organisers import DEFAULT_TOKEN_DAYS

    assert ", ".join(FILTERS) == send_cmds.RECIPIENT_FILTERS
    assert web_cmds.TOKEN_DAYS == DEFAULT_TOKEN_DAYS
