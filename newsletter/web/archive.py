"""Email HTML fit for a browser: the archive's and the previews' rendered editions.

Only updates that have gone out are public (``newsletter.updates.is_sent``;
events: ``newsletter.events.queries.event_is_public``).  An email rendered
for the web carries neutral values in place of the per-recipient
placeholders ("Hello,", links to generic pages) so that no one's token is
ever shown.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from html import escape

from newsletter import parts
from newsletter.config import Settings
from newsletter.content import Update
from newsletter.models import UpdateRecord
from newsletter.parts import RenderedEdition
from newsletter.render import render_edition
from newsletter.updates import to_content

_CACHE_SIZE = 32
_cache: OrderedDict[tuple[int | None, str, str | None, str], RenderedEdition] = OrderedDict()
_cache_lock = threading.Lock()


def _fingerprint(update: Update) -> str:
    data = json.dumps(update.to_json(), sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def rendered(
    record: UpdateRecord, segment: str, segment_name: str | None = None
) -> RenderedEdition:
    """The update's ``segment`` edition, cached while its content (events included) is unchanged.

    ``segment_name`` is how the edition names its segment (the segment's
    label, ``segments.display_name``), as the message itself does.  Rendering
    runs premailer (tens of milliseconds); the archive is read far more often
    than updates change.
    """
    update = to_content(record)
    key = (record.id, segment, segment_name, _fingerprint(update))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    edition = render_edition(update, segment, segment_name=segment_name)
    with _cache_lock:
        _cache[key] = edition
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return edition


def neutral_html(edition: RenderedEdition, settings: Settings) -> str:
    """The edition's HTML with neutral values spliced in: no one's name or token."""
    base = settings.base_url.rstrip("/")
    values = {
        parts.GREETING: "Hello,",
        parts.UNSUBSCRIBE_URL: f"{base}/unsubscribe",
        parts.PREFERENCES_URL: f"{base}/preferences",
    }
    html = edition.html
    for placeholder, value in values.items():
        html = html.replace(placeholder, escape(value))
    return html


def neutral_text(edition: RenderedEdition, settings: Settings) -> str:
    """The edition's text part with the same neutral values."""
    base = settings.base_url.rstrip("/")
    return (
        edition.text.replace(parts.GREETING, "Hello,")
        .replace(parts.UNSUBSCRIBE_URL, f"{base}/unsubscribe")
        .replace(parts.PREFERENCES_URL, f"{base}/preferences")
    )
