"""Render an update into one :class:`~newsletter.parts.RenderedEdition` per segment.

This is the expensive step of a send (Jinja2 + premailer, milliseconds), so
it runs once per (send, segment) and never per recipient: the result still
holds the per-recipient :data:`~newsletter.parts.PLACEHOLDERS`, which
``newsletter.message`` splices in cheaply.  :data:`stats` counts the
expensive calls so tests can prove that.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cssutils  # type: ignore[import-untyped]
import premailer

from newsletter import parts
from newsletter.config import Settings, get_settings
from newsletter.content import Bullets, Event, Paragraph, Section, Tag, Update
from newsletter.parts import RenderedEdition
from newsletter.render.environment import email_environment
from newsletter.render.formatting import (
    contact_address,
    mailto_href,
    safe_url,
    squash,
    truncate,
    when_label,
)
from newsletter.render.sections import Edition, build_edition
from newsletter.render.subject import (
    SUBJECT_TEMPLATE,
    PlaceholderError,
    render_subject,
    subject_context,
)

HTML_TEMPLATE = "update.html"
TEXT_TEMPLATE = "update.txt"
__all__ = ["SUBJECT_TEMPLATE", "PlaceholderError", "inline_css", "render_edition", "warm_up"]


@dataclass
class RenderStats:
    """Counts of the expensive calls since the last :meth:`reset` (thread-safe).

    ``editions``: :func:`render_edition` calls; ``template_renders``: Jinja2
    template renders (three per edition, two with a given subject);
    ``premailer_runs``: CSS inlining runs (one per edition).
    """

    editions: int = 0
    template_renders: int = 0
    premailer_runs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(
        self, *, editions: int = 0, template_renders: int = 0, premailer_runs: int = 0
    ) -> None:
        """Add to the counters."""
        with self._lock:
            self.editions += editions
            self.template_renders += template_renders
            self.premailer_runs += premailer_runs

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.editions = self.template_renders = self.premailer_runs = 0


# Module-level so a test (or a recipient-side check) can read it
# around a whole send: ``render.stats.reset(); …; assert render.stats.premailer_runs == 2``.
stats = RenderStats()


@dataclass(frozen=True)
class Link:
    """A vetted link: ``href`` is http(s) or mailto, never from raw content."""

    label: str
    href: str


@dataclass(frozen=True)
class EventView:
    """What the templates show of one event."""

    title: str
    when: str
    location: str | None
    url: str | None
    cancelled: bool
    links: tuple[Link, ...]


@dataclass(frozen=True)
class ContactView:
    """A contact line: ``text`` whole; ``before`` + ``address`` + ``after`` == ``text``.

    ``href`` is a mailto: URL for ``address`` when the line holds one, so the
    HTML links the address alone rather than the person's role or name.
    """

    text: str
    before: str
    address: str | None
    after: str
    href: str | None


def render_edition(
    update: Update,
    segment: str,
    *,
    segment_name: str | None = None,
    subject: str | None = None,
    settings: Settings | None = None,
) -> RenderedEdition:
    """Render ``update`` for ``segment``: Jinja2 once per template, premailer once.

    ``segment_name`` defaults to the built-in name or one made from the slug;
    ``subject`` overrides ``update.subject.txt``; ``settings`` defaults to
    :func:`~newsletter.config.get_settings` (``base_url``, ``from_address``,
    ``organisation_address`` are read).  The result's ``html`` (CSS inlined,
    doctype and ``@media`` rules kept) and ``text`` (lines of at most 78
    characters except lone URLs) each contain every placeholder of
    :data:`~newsletter.parts.PLACEHOLDERS` exactly once.  ``subject`` is one
    line.  Raises ``jinja2.UndefinedError`` if a template uses an unknown name
    and :class:`PlaceholderError` if the content itself holds a placeholder.
    """
    settings = settings or get_settings()
    edition = build_edition(update, segment, segment_name)
    env = email_environment()
    context = _context(update, edition, settings)
    renders = 2 if subject is not None else 3
    context["subject"] = render_subject(
        update, segment, segment_name=edition.segment_name, subject=subject, settings=settings
    )
    html = inline_css(env.get_template(HTML_TEMPLATE).render(context))
    text = tidy_text(env.get_template(TEXT_TEMPLATE).render(context))
    _check_placeholders(html, text)
    stats.count(editions=1, template_renders=renders)
    return RenderedEdition(
        update_id=update.id,
        segment=segment,
        segment_name=edition.segment_name,
        subject=context["subject"],
        preheader=context["preheader"],
        html=html,
        text=text,
    )


def inline_css(html: str) -> str:
    """Inline the CSS of ``html`` with premailer; counts one premailer run.

    No network and no local files are read.  The ``<style>`` block is kept
    whole (``@media`` rules for phones and dark mode only work from there)
    and ``!important`` is kept (those rules must beat the inlined styles).
    """
    # cssutils shortens #ffffff to #fff when premailer re-serialises inline
    # styles; Lotus Notes and some Outlook builds misread three-digit colours.
    # The preference is process-wide, so set it every time in case anything
    # else in the process changed it.
    cssutils.ser.prefs.minimizeColorHash = False
    inliner = premailer.Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        keep_style_tags=True,
        strip_important=False,
        # Validation only logs about mso-* and -webkit-* properties, which
        # email needs; skipping it is faster and quieter.
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    )
    result: str = inliner.transform()
    stats.count(premailer_runs=1)
    return result


def _check_placeholders(html: str, text: str) -> None:
    # Splicing replaces every occurrence: a placeholder smuggled into the
    # content would put one reader's unsubscribe link wherever the author
    # chose.  Ingest never produces one, so finding one is refused loudly.
    for placeholder in parts.PLACEHOLDERS:
        if html.count(placeholder) != 1 or text.count(placeholder) != 1:
            raise PlaceholderError(f"update content contains the placeholder {placeholder}")


def tidy_text(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines to one (the text part)."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line and (not lines or not lines[-1]):
            continue
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _context(update: Update, edition: Edition, settings: Settings) -> dict[str, Any]:
    """Everything the three templates read; values are plain text, never markup."""
    base_url = settings.base_url.rstrip("/")
    archive = f"{base_url}/archive/{update.id}" if update.id is not None else f"{base_url}/archive"
    events = sorted(update.events, key=lambda e: not e.featured)  # featured first, stable
    return {
        **subject_context(update, edition.segment, edition.segment_name, settings),
        "preheader": truncate(edition.first_paragraph() or update.title),
        "greeting": parts.GREETING,
        "groups": edition.groups,
        "events": [_event_view(event, base_url) for event in events],
        "contacts": [_contact_view(contact) for contact in update.contacts if contact.strip()],
        "tags": [f"{t.name} ({t.count})" if t.count is not None else t.name for t in update.tags],
        "unsubscribe_url": parts.UNSUBSCRIBE_URL,
        "preferences_url": parts.PREFERENCES_URL,
        "archive_url": archive,
        "organisation_address": squash(settings.organisation_address),
    }


def _event_view(event: Event, base_url: str) -> EventView:
    links: tuple[Link, ...] = ()
    if not event.cancelled:
        # Imported here: the calendar module imports icalendar, which only
        # renders with events need; and it is built alongside this module.
        from newsletter.calendar import calendar_links

        found = calendar_links(event, base_url)
        candidates = (
            ("Add to Google Calendar", found.google),
            ("Add to Outlook", found.outlook),
            # Most readers are council staff on Microsoft 365 work accounts,
            # which outlook.live.com (personal accounts) cannot add to.
            ("Add to Outlook (work or school)", found.office365),
            ("Add to Yahoo Calendar", found.yahoo),
            ("Download .ics", found.ics),
        )
        links = tuple(Link(label, url) for label, url in candidates if url and safe_url(url) == url)
    return EventView(
        title=squash(event.title),
        when=when_label(event),
        location=squash(event.location) if event.location else None,
        url=safe_url(event.url),
        cancelled=event.cancelled,
        links=links,
    )


def _contact_view(contact: str) -> ContactView:
    text = squash(contact)
    address = contact_address(text)
    if address is None:
        return ContactView(text, text, None, "", None)
    before, _, after = text.partition(address)
    return ContactView(text, before, address, after, mailto_href(address))


def warm_up() -> None:
    """Render a small update once, so that this process's next edition is quick.

    The first render in a process compiles the templates, sets up premailer
    and its CSS parser and imports the calendar links' modules: 0.31 s of CPU
    against 0.02 s for the next one (measured on the development machine).
    The warm-up update has every kind of block the templates branch on (a
    section for one segment, bullets, an event with links, a contact, a
    tag): warmed with a single paragraph, the first real edition still took
    135 ms against 11-18 ms for the next.  Celery workers call this before
    forking their pool (``newsletter.dispatch.celery_app``), so the first send
    planned after a worker starts does not wait for it.
    """
    start = datetime(2000, 1, 3, 10, 0, tzinfo=UTC)
    update = Update(
        id=None,
        title="Warm-up",
        region="Warm-up",
        period="2000-01",
        sections=[
            Section(heading=None, blocks=[Paragraph("Warm-up.")]),
            Section(
                heading="For lead members",
                blocks=[Bullets(("One", "Two"))],
                audiences=["dcs", "lead-member"],
            ),
        ],
        tags=[Tag("warm-up", 1)],
        contacts=["Warm-up: warm.up@example.org"],
        events=[
            Event(
                title="Warm-up",
                start=start,
                end=start + timedelta(hours=1),
                location="Warm-up",
                featured=True,
                uid="warm-up@example.org",
            )
        ],
    )
    render_edition(update, "lead-member")
