"""Settings: the only place environment variables are read.

Every setting has the prefix ``NEWSLETTER_``.  The defaults need no server:
a SQLite file in the working directory, tasks run in-process, and mail is
written to an outbox folder.  Production sets ``DATABASE_URL`` (PostgreSQL),
``BROKER_URL`` (Redis) and ``SMTP_URL``.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Settings whose value must never be printed in full.
SECRET_FIELDS = frozenset({"secret_key", "bounce_webhook_secret"})
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
    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public URL of the web app, for links."
    )
    secret_key: str = Field(
        default="dev-insecure-secret-change-me",
        description="Signs unsubscribe, preference and confirmation tokens.",
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
    batch_size: int = Field(default=250, ge=1, description="Recipients per delivery task.")
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

    @property
    def dkim_requested(self) -> bool:
        """Whether any DKIM setting is given (all three are then required)."""
        return any((self.dkim_domain, self.dkim_selector, self.dkim_key_path))

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the demo change the environment)."""
    get_settings.cache_clear()
