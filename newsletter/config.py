"""Settings: the only place environment variables are read.

Every setting has the prefix ``NEWSLETTER_``.  The defaults need no server:
a SQLite file in the working directory, tasks run in-process, and mail is
written to an outbox folder.  Production sets ``DATABASE_URL`` (PostgreSQL),
``BROKER_URL`` (Redis) and ``SMTP_URL``.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Settings whose value must never be printed in full.
SECRET_FIELDS = frozenset({"secret_key", "previous_secret_keys", "bounce_webhook_secret"})
# Secrets that have been published (in this repository's history, in examples):
# anyone could sign tokens with them, so the web app and workers refuse them.
PUBLIC_SECRETS = frozenset(
    {
        "dev-insecure-secret-change-me",
        "change-me-in-production",
        "change-me",
        "changeme",
        "secret",
    }
)
# A secret shorter than this is too easy to guess offline from one signed link.
MIN_SECRET_LENGTH = 32
# Settings that are URLs and may carry a password in their user-info part.
URL_FIELDS = frozenset(
    {"database_url", "broker_url", "smtp_url", "result_backend_url", "bounce_mailbox_url"}
)


class Settings(BaseSettings):
    """The service's configuration; build with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="NEWSLETTER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///newsletter.db",
        description="SQLAlchemy URL of the store (SQLite file or PostgreSQL).",
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker (Redis); unset runs tasks in-process."
    )
    result_backend_url: str | None = Field(
        default=None, description="Celery result backend; unset means no results kept."
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://user:pass@host:port or smtps://…; unset writes .eml to OUTBOX_DIR.",
    )
    outbox_dir: str = Field(default="outbox", description="Folder for .eml files.")
    data_dir: str | None = Field(
        default=None,
        description="Folder for local state (beat's schedule); unset: beside the SQLite "
        "file, or the working directory.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public URL of the web app, for links."
    )
    secret_key: str = Field(
        default="",
        description="Signs email links, sessions and VERP addresses; unset: the key file "
        "`newsletter init` writes beside a SQLite store.",
    )
    previous_secret_keys: str = Field(
        default="",
        description="Comma-separated former secret keys, still accepted when verifying "
        "(key rotation); never used to sign.",
    )
    secret_key_file: str | None = Field(
        default=None,
        description="File holding the secret key when SECRET_KEY is unset; default: "
        "beside the SQLite store (STORE.secret-key).",
    )
    confirmation_cooldown_seconds: int = Field(
        default=600,
        ge=0,
        description="Least time between two confirmation or link emails to one address.",
    )
    confirmation_daily_cap: int = Field(
        default=5, ge=1, description="Most confirmation or link emails to one address per day."
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest CSV import accepted (bytes)."
    )
    import_inline_rows: int = Field(
        default=2000,
        ge=0,
        description="Imports with more rows than this run as a background task with progress.",
    )
    from_address: str = Field(
        default="North East Children's Services Network <updates@newsletter.example.org>",
        description="From header of every message.",
    )
    reply_to: str | None = Field(default=None, description="Reply-To header, if any.")
    organisation_address: str = Field(
        default="North East Regional Network, Civic Centre, Newcastle upon Tyne NE1 8QH",
        description="Postal address shown in every footer.",
    )
    list_id: str = Field(
        default="north-east.newsletter.example.org", description="List-Id header value."
    )
    timezone: str = Field(default="Europe/London", description="Time zone of the organisers.")
    # 1,000 rather than 250: the per-batch work (claim, rows, leases, finish)
    # was a sixth of the workers' CPU at 250; at 1,000 the steady rate was
    # 1.15x and the first message 0.03 s later (docs/performance.md, "Batch size").
    batch_size: int = Field(default=1000, ge=1, description="Recipients per delivery task.")
    max_attempts: int = Field(default=5, ge=1, description="Tries per delivery on 4xx errors.")
    pause_after_failures: int = Field(
        default=50, ge=1, description="Consecutive failures after which a send pauses itself."
    )
    retry_base_seconds: float = Field(
        default=60.0, gt=0, description="First retry delay after a 4xx; doubles per try."
    )
    claim_timeout_seconds: float = Field(
        default=900.0, gt=0, description="A claimed delivery older than this is taken back."
    )
    requeue_after_seconds: float = Field(
        default=300.0, gt=0, description="Pending rows queued longer ago are re-enqueued."
    )
    lease_seconds: float = Field(
        default=20.0,
        ge=5.0,
        description="A batch's claim lapses this long after its worker's last heartbeat "
        "(every quarter of it); recovery then takes the rows back.",
    )
    broker_visibility_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A batch task not acknowledged this long after a worker took it is put "
        "back in the queue (its worker is presumed dead); a copy finding the first still "
        "running ends without sending.",
    )
    result_journal: bool = Field(
        default=True,
        description="Journal each accepted message in Redis until the store has it, so a "
        "killed worker's sent messages are not sent again.",
    )
    rate_per_second: float | None = Field(
        default=None, description="Transport rate limit, messages per second (shared)."
    )
    rate_per_hour: int | None = Field(
        default=None, description="Transport rate limit, messages per hour (shared)."
    )
    audience_rules_path: str | None = Field(
        default=None,
        description="TOML file of section keyword → segment rules; unset uses the bundled one.",
    )
    regions_path: str | None = Field(
        default=None,
        description="TOML file of known regions and their spellings; unset uses the bundled one.",
    )
    bounce_domain: str | None = Field(
        default=None,
        description="Domain of the VERP return path bounces+TOKEN@…; unset uses the From domain.",
    )
    bounce_mailbox_url: str | None = Field(
        default=None,
        description="imap[s]://user:pass@host[:port]/FOLDER or pop3[s]://… polled for bounces.",
    )
    bounce_webhook_secret: str | None = Field(
        default=None,
        description="Bearer secret for POST /webhooks/bounces; unset disables the webhook.",
    )
    soft_bounce_limit: int = Field(
        default=3, ge=1, description="Soft bounces (distinct deliveries) that suppress an address."
    )
    soft_bounce_window_days: int = Field(
        default=14, ge=1, description="Days over which soft bounces are counted."
    )
    reminder_gap_hours: float = Field(
        default=12.0,
        ge=0,
        description="No event reminder within this many hours after the person first got it.",
    )
    dkim_domain: str | None = Field(default=None, description="DKIM d= domain; unset: no DKIM.")
    dkim_selector: str | None = Field(default=None, description="DKIM s= selector.")
    dkim_key_path: str | None = Field(
        default=None, description="PEM private key (RSA or Ed25519) that signs outgoing mail."
    )

    @model_validator(mode="after")
    def _load_secret_file(self) -> Settings:
        """Fill ``secret_key`` from the key file when the environment does not set it."""
        if not self.secret_key:
            path = self.key_file
            if path is not None and path.is_file():
                self.secret_key = path.read_text(encoding="utf-8").strip()
        return self

    @property
    def key_file(self) -> Path | None:
        """Where ``newsletter init`` keeps a generated secret key (None: nowhere known)."""
        if self.secret_key_file:
            return Path(self.secret_key_file)
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            database = self.database_url[len("sqlite:///") :].split("?", 1)[0]
            if database:
                return Path(database + ".secret-key")
        return None

    @property
    def verification_keys(self) -> tuple[str, ...]:
        """The current secret key then the previous ones: what signatures are checked with."""
        previous = [k.strip() for k in self.previous_secret_keys.split(",") if k.strip()]
        return tuple(k for k in (self.secret_key, *previous) if k)

    @property
    def dkim_requested(self) -> bool:
        """Whether any DKIM setting is given (all three are then required)."""
        return any((self.dkim_domain, self.dkim_selector, self.dkim_key_path))

    @property
    def state_dir(self) -> Path:
        """The folder for local state: ``data_dir``, else beside the SQLite file, else ".".

        Two installations on one host keep apart as their stores do.
        """
        if self.data_dir:
            return Path(self.data_dir)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(url.database).parent
        return Path(".")

    @property
    def sending_domain(self) -> str:
        """The domain part of the From address, used for Message-IDs."""
        address = self.from_address.rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rsplit("@", 1)[-1].lower()


def masked(name: str, value: object) -> str:
    """Return ``value`` as text fit to print: secrets hidden, URL passwords masked."""
    if value is None:
        return "(unset)"
    text = str(value)
    if name in SECRET_FIELDS:
        return "****" if text else ""
    if name in URL_FIELDS:
        parts = urlsplit(text)
        if parts.password:
            user = parts.username or ""
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            netloc = f"{user}:****@{host}{port}"
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return text


def secret_problem(settings: Settings) -> str | None:
    """Why ``settings.secret_key`` must not sign anything public, or None when it may.

    Refused: no key at all, a published constant, or fewer than
    :data:`MIN_SECRET_LENGTH` characters.  ``newsletter web`` and
    ``newsletter worker`` refuse to start with the message.
    """
    key = settings.secret_key
    hint = (
        "set NEWSLETTER_SECRET_KEY to a long random value (for example the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
    )
    if not key:
        return f"no secret key: {hint}, or run `newsletter init` with a SQLite store"
    if key in PUBLIC_SECRETS:
        return f"NEWSLETTER_SECRET_KEY is a published example value: {hint}"
    if len(key) < MIN_SECRET_LENGTH:
        return (
            f"NEWSLETTER_SECRET_KEY has {len(key)} characters, fewer than "
            f"{MIN_SECRET_LENGTH}: {hint}"
        )
    for old in settings.verification_keys[1:]:
        if old in PUBLIC_SECRETS:
            return "NEWSLETTER_PREVIOUS_SECRET_KEYS holds a published example value: remove it"
    return None


def ensure_secret_key(settings: Settings) -> Path | None:
    """Generate and store a random secret key when none is configured; returns the file written.

    Writes :attr:`Settings.key_file` (mode 0600) only when the environment
    sets no key and no key file exists yet, so an existing key is never
    replaced.  Returns None when nothing was written (a key is set, or the
    store is not a local file and no ``SECRET_KEY_FILE`` is given).
    """
    path = settings.key_file
    if settings.secret_key or path is None or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the demo change the environment)."""
    get_settings.cache_clear()
