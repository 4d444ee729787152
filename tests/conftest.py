"""Shared fixtures: a fresh store on SQLite and on the real PostgreSQL.

Tests that take ``engine`` (or ``session``) run twice, once per database.
PostgreSQL is the machine's server on 127.0.0.1:5432 (``NEWSLETTER_TEST_POSTGRES_URL``
overrides); each test session creates its own database and drops it at the end,
and each test starts from empty tables.  An unreachable server fails the tests:
the setup script (scripts/setup) starts it, so there is no skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

import newsletter.bounces.models  # noqa: F401 (bounce tables are emptied between tests too)
from newsletter.config import reset_settings
from newsletter.db import engine_for, reset_engines, session_scope
from newsletter.migrate import upgrade_to_head
from newsletter.models import Base
from newsletter.segments import ensure_builtins
from newsletter.throttles import clear_memory_throttles

# Property tests check behaviour, never speed (speed is measured in benchmarks/):
# no per-example deadline, which a loaded machine can miss on a correct example.
hypothesis_settings.register_profile("newsletter", deadline=None)
hypothesis_settings.load_profile("newsletter")

POSTGRES_ADMIN_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database made for this test session on the real PostgreSQL server."""
    name = f"newsletter_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    migrated = engine_for(url)
    upgrade_to_head(migrated)
    yield url
    reset_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated, empty store with built-in segments; also set as NEWSLETTER_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade_to_head(engine_for(url))
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_tables(engine_for(url))
    with session_scope(engine_for(url)) as session:
        ensure_builtins(session)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    reset_settings()
    yield url
    reset_settings()


@pytest.fixture
def engine(database_url: str) -> Engine:
    """The engine of the fresh store (SQLite or PostgreSQL)."""
    return engine_for(database_url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh store, committed at the end of the test."""
    with session_scope(engine) as s:
        yield s


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from default settings with its own outbox and SQLite file."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_") and name != "NEWSLETTER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")
    # A key of production strength, so that workers and the web app start;
    # tests of the secret handling remove it.
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET_KEY)
    reset_settings()
    clear_memory_throttles()
    yield
    reset_settings()
    clear_memory_throttles()


TEST_SECRET_KEY = "test-secret-key-for-the-suite-only-0123456789"
JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def js_dir() -> Path:
    """tests/js with its node_modules (ical.js, mailparser) installed once per session.

    scripts/setup normally installs them; this covers a run straight from pytest.
    """
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is required: scripts/setup installs Node.js"
        verb = "ci" if (JS_DIR / "package-lock.json").exists() else "install"
        subprocess.run([npm, verb, "--prefix", str(JS_DIR)], check=True, timeout=600)
    return JS_DIR


# Debian's Chromium, never a downloaded browser.  Without the background
# networking flags it keeps trying hosts this closed network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright, one per browser test module."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
