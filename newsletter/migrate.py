"""Apply the Alembic migrations: ``newsletter init`` and the test fixtures call this.

The migration scripts ship inside the package, so this works from a
non-editable install; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

from newsletter.paths import PACKAGE_DIR

if TYPE_CHECKING:
    from alembic.config import Config

VERSIONS_DIR = PACKAGE_DIR / "migrations" / "versions"
# How a migration script names itself and its parent (Alembic's own layout).
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"^down_revision\s*(?::[^=]*)?=\s*(?:[\"']([^\"']+)[\"']|None)", re.MULTILINE
)


def alembic_config() -> Config:
    """An Alembic configuration pointing at the bundled migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database behind ``engine`` to the newest schema; idempotent."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None before ``init``."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])


def head_revision() -> str:
    """The newest revision the bundled scripts define (the one no script revises).

    Read from the scripts' ``revision`` / ``down_revision`` lines rather than
    through Alembic, whose import costs every CLI command ~0.1 s (more on a
    busy machine); ``tests/test_startup.py`` checks it against Alembic's
    answer.  Raises RuntimeError when there is not exactly one head.
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in VERSIONS_DIR.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None and down.group(1):
            revised.add(down.group(1))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"expected one head among the migration scripts, found {sorted(heads)}")
    return heads.pop()
