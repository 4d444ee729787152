"""Request bodies of the REST API (module level, so FastAPI can resolve them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UpdateIn(BaseModel):
    """An update to ingest, as text."""

    text: str = Field(description="The update: website text, Markdown or JSON.")
    format: str = Field(default="auto", description="auto, text, markdown or json.")
    source_name: str = Field(default="api.txt", description="A file name for messages.")


class EventPatch(BaseModel):
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


class SubscriberIn(BaseModel):
    """A subscriber to create or update (by address)."""

    email: str
    name: str = ""
    organisation: str = ""
    region: str = ""
    roles: list[str] = Field(default_factory=list)
    status: str | None = Field(default=None, description="Default active for new ones.")


class SegmentIn(BaseModel):
    """A custom segment."""

    name: str
    rule: str
    description: str = ""
    # Listed on /calendar with a public feed; new segments are private by default.
    public: bool = False


class SegmentFeedIn(BaseModel):
    """Whether the segment's calendar feed is public."""

    public: bool


class RuleIn(BaseModel):
    """A rule to count."""

    rule: str


class SuppressionIn(BaseModel):
    """An address to suppress by hand."""

    email: str
    detail: str = ""


class SendIn(BaseModel):
    """A send to schedule; ``at`` absent means now."""

    update_id: int
    segments: list[str]
    at: str | None = Field(default=None, description='"2026-12-01 09:00" (UK) or ISO 8601.')
    subject: str | None = None


class ProofIn(BaseModel):
    """A test copy of an update's edition to one address (default: the caller)."""

    update_id: int
    segment: str = "dcs"
    email: str | None = None
