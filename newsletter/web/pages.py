"""Public reading pages: the web archive, event pages, .ics downloads and calendar feeds.

Only what has been sent is public (``newsletter.updates.is_sent``); a
signed-in organiser also sees events of updates not sent yet, so previews'
links work.  Calendar files use the same UIDs and SEQUENCEs as the emails,
so a client that has an event from both shows it once.
"""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from newsletter.calendar import calendar_links, feed, ics_filename, publish_part
from newsletter.editions import archive_url
from newsletter.events.queries import event_from_record, event_is_public, feed_events
from newsletter.models import EventRecord, UpdateRecord
from newsletter.render.formatting import when_label
from newsletter.render.sections import segment_name
from newsletter.segments import label_of, list_public
from newsletter.updates import is_sent, sent_updates
from newsletter.web.archive import neutral_html, rendered
from newsletter.web.deps import current_organiser, page, settings_of, store
from newsletter.web.security import EMAIL_CSP

router = APIRouter(include_in_schema=False)
ICS_TYPE = "text/calendar; charset=utf-8"
ALL_SEGMENT = "all"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages without an icon link (the archived emails)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request) -> Response:
    """Every sent update, newest first."""
    with store(request) as db:
        rows = [
            {"id": record.id, "title": record.title, "period": record.period, "sent": sent}
            for record, sent in sent_updates(db)
        ]
    return page(request, "archive.html", {"updates": rows})


@router.get("/archive/{update_id}", response_class=HTMLResponse)
def archive_update(request: Request, update_id: int) -> Response:
    """The update as the email shows it (the view-in-browser link), with neutral links."""
    with store(request) as db:
        record = db.get(UpdateRecord, update_id)
        if record is None or not (is_sent(db, update_id) or current_organiser(request)):
            raise HTTPException(404, "There is no sent update with this number.")
        edition = rendered(record, "dcs", label_of(db, "dcs"))
    html = neutral_html(edition, settings_of(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": EMAIL_CSP})


def _public_event(request: Request, event_id: int) -> tuple[EventRecord, bool]:
    """The event and whether it is public; a private one only for a signed-in organiser."""
    with store(request) as db:
        record = db.get(EventRecord, event_id)
        public = record is not None and event_is_public(db, record)
        if record is None or not (public or current_organiser(request)):
            raise HTTPException(404, "There is no published event with this number.")
        # Touch what the callers read so it is loaded before the session closes.
        _ = record.update.title
        return record, public


@router.get("/events/{event_id}.ics")
def event_ics(request: Request, event_id: int) -> Response:
    """The event as a METHOD:PUBLISH iCalendar file (same UID as in the emails)."""
    record, public = _public_event(request, event_id)
    event = event_from_record(record)
    part = publish_part(event, update_url=archive_url(record.update_id))
    headers = {"Content-Disposition": f'attachment; filename="{ics_filename(event.title)}"'}
    if not public:
        # Only an organiser sees a private event: keep it out of shared caches.
        headers["Cache-Control"] = "no-store"
    return Response(part.ics, media_type=ICS_TYPE, headers=headers)


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: int) -> Response:
    """The event with add-to-calendar links (Google, Outlook.com, Office 365, .ics)."""
    record, _ = _public_event(request, event_id)
    event = event_from_record(record)
    base = settings_of(request).base_url
    context = {
        "event": event,
        "when": when_label(event),
        "links": calendar_links(event, base),
        "update_id": record.update_id,
        "update_title": record.update.title,
    }
    return page(request, "event.html", context)


@router.get("/calendar/{segment}.ics")
def calendar_feed(request: Request, segment: str) -> Response:
    """Subscribable feed: upcoming events of updates sent to ``segment``."""
    with store(request) as db:
        if segment not in {s.name for s in list_public(db)}:
            raise HTTPException(404, "There is no calendar for this segment.")
        # "all" is everyone subscribed: every public event, whatever role it went to.
        events = feed_events(db, None if segment == ALL_SEGMENT else segment)
    # The feed is named after the network that sends it (the From display name).
    settings = settings_of(request)
    network = parseaddr(settings.from_address)[0] or settings.list_id
    body = feed(events, f"{network}: {segment_name(segment)}")
    # Calendar clients poll feeds; let caches keep a copy for a few minutes.
    return Response(body, media_type=ICS_TYPE, headers={"Cache-Control": "public, max-age=300"})


@router.get("/calendar", response_class=HTMLResponse)
def calendars(request: Request) -> Response:
    """The list of calendar feeds to subscribe to."""
    with store(request) as db:
        rows = [(s.name, s.description or segment_name(s.name)) for s in list_public(db)]
    base = settings_of(request).base_url.rstrip("/")
    feeds = [
        {
            "label": label,
            "url": f"{base}/calendar/{name}.ics",
            # webcal:// makes Apple Calendar and Outlook offer to subscribe in one tap;
            # Google Calendar subscribes through its "cid" parameter.
            "webcal": webcal_url(f"{base}/calendar/{name}.ics"),
            "google": "https://calendar.google.com/calendar/r?"
            + urlencode({"cid": webcal_url(f"{base}/calendar/{name}.ics")}),
        }
        for name, label in rows
    ]
    return page(request, "calendars.html", {"feeds": feeds})


def webcal_url(url: str) -> str:
    """The ``webcal://`` form of an http(s) feed URL (the scheme calendar apps subscribe to)."""
    return "webcal://" + url.split("://", 1)[1]
