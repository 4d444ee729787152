"""Request bodies of the REST API (module level, so FastAPI can resolve them).

Every body refuses NUL characters in its text (no column can hold them, and
PostgreSQL refuses them outright) and ids beyond the 32-bit id columns, so
such input gets a 422 naming the field instead of reaching the database.
Lengths of names and organisations are checked by the domain's own
validation, which names the limit.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

# The largest id a row can have (32-bit integer columns).
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _Body(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("must not contain NUL characters")
        return value


class UpdateIn(_Body):
    """An update to ingest, as text."""

    text: str = Field(description="The update: website text, Markdown or JSON.")
    format: str = Field(default="auto", description="auto, text, markdown or json.")
    source_name: str = Field(default="api.txt", description="A file name for messages.")


class EventPatch(_Body):
    """Corrections to an event; absent fields stay.  Times are UK local unless offset given."""

    title: str | None = None
    start: str | None = None
    end: str | None = None
    location: str | None = None
    featured: bool | None = None
    notify: bool = Field(default=True, description="Tell people who have the event.")
    message: str | None = Field(default=None, description="Shown in the update notice.")


class EventCancel(BaseModel):
    """A cancellation: whether to tell people who have the event, and what to say."""

    notify: bool = Field(default=True, description="Send METHOD:CANCEL to those who have it.")
    message: str | None = Field(default=None, description="Shown in the cancellation.")


class UpdatePatch(BaseModel):
    """Corrections to what ingest understood; absent fields stay, "none" clears region/period."""

    title: str | None = None
    region: str | None = None
    period: str | None = Field(
        default=None, description="2019-05, 'Spring 2019', 'Quarter 2 2019/20'… or 'none'."
    )


class AudiencesIn(BaseModel):
    """A section's audiences (segment names); dcs is always kept."""

    audiences: list[str]


class SubscriberIn(_Body):
    """A subscriber to create or update (by address)."""

    email: str
    name: str = ""
    organisation: str = ""
    region: str = ""
    roles: list[str] = Field(default_factory=list)
    status: str | None = Field(default=None, description="Default active for new ones.")


class SegmentIn(_Body):
    """A custom segment."""

    name: str = Field(max_length=100)
    rule: str
    description: str = Field(default="", max_length=2000)
    label: str = Field(
        default="", max_length=200, description='Display name, e.g. "North East leaders".'
    )
    # Listed on /calendar with a public feed; new segments are private by default.
    public: bool = False


class RuleIn(_Body):
    """A rule to count."""

    rule: str


class SuppressionIn(_Body):
    """An address to suppress by hand."""

    email: str
    detail: str = ""


class SendIn(_Body):
    """A send to schedule; ``at`` absent means now."""

    update_id: Id
    segments: list[str]
    at: str | None = Field(default=None, description='"2026-12-01 09:00" (UK) or ISO 8601.')
    subject: str | None = Field(default=None, max_length=300)


class ProofIn(_Body):
    """A test copy of an update's edition to one address (default: the caller)."""

    update_id: Id
    segment: str = "dcs"
    email: str | None = None
    emails: list[str] = Field(default_factory=list, description="Several addresses (max 20).")


class SubscriberPatch(BaseModel):
    """Profile fields to change; absent fields stay as they are (status has its own routes)."""

    email: str | None = None
    name: str | None = None
    organisation: str | None = None
    region: str | None = None
    roles: list[str] | None = None


class ConsentIn(BaseModel):
    """Fresh consent for subscribing an opted-out person again."""

    consent: str = Field(description='How they consented again, e.g. "asked by email on 2 Dec".')


class RescheduleIn(BaseModel):
    """The new time of a scheduled send."""

    at: str = Field(description='"2026-12-01 09:00" (UK) or ISO 8601; not in the past.')


class SegmentPatch(BaseModel):
    """A segment's display name and description; absent fields stay as they are."""

    label: str | None = None
    description: str | None = None
    public: bool | None = Field(default=None, description="List its feed on /calendar.")
