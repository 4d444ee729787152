"""An edition's subject line, and the content check, without the HTML renderer.

The review an organiser confirms before a send shows each edition's subject;
it needs neither premailer nor the HTML templates, whose import and first
render cost a CLI process more than everything else it does
(docs/performance.md, "Time to first message").  :func:`render_edition`
takes its subject from here too, so the review and the message never differ.

``update.subject.txt`` sees only :func:`subject_context`: the update's title,
its eyebrow (region and period), the segment's name and the list's name.
A template that uses anything else fails loudly (``StrictUndefined``).
"""

from __future__ import annotations

import json
from email.utils import parseaddr
from typing import Any

from newsletter import parts
from newsletter.config import Settings, get_settings
from newsletter.content import Update
from newsletter.errors import UserError
from newsletter.render.environment import email_environment
from newsletter.render.formatting import period_label, squash
from newsletter.render.sections import segment_name as default_segment_name

SUBJECT_TEMPLATE = "update.subject.txt"


class PlaceholderError(UserError, ValueError):
    """The update's content contains a per-recipient placeholder such as ``%%NL_GREETING%%``."""


def eyebrow(update: Update) -> str | None:
    """ "North East · April 2017": the region and period above the title, or None."""
    period = update.period_label or period_label(update.period)
    return " · ".join(part for part in (update.region, period) if part) or None


def subject_context(
    update: Update, segment: str, segment_name: str | None, settings: Settings
) -> dict[str, Any]:
    """What ``update.subject.txt`` may use (the email templates get these and more)."""
    return {
        "title": squash(update.title),
        "eyebrow": eyebrow(update),
        "segment_name": segment_name or default_segment_name(segment),
        "list_name": parseaddr(settings.from_address)[0] or settings.list_id,
    }


def render_subject(
    update: Update,
    segment: str,
    *,
    segment_name: str | None = None,
    subject: str | None = None,
    settings: Settings | None = None,
) -> str:
    """The subject line of ``update``'s edition for ``segment``: one line.

    ``subject`` overrides the template; either way runs of whitespace,
    line breaks included, become one space, so no CR or LF reaches a header.
    """
    if subject is None:
        context = subject_context(update, segment, segment_name, settings or get_settings())
        subject = email_environment().get_template(SUBJECT_TEMPLATE).render(context)
    return squash(subject)


def check_content(update: Update) -> None:
    """Raise :class:`PlaceholderError` if the update's content holds a placeholder.

    Splicing replaces every occurrence: a placeholder smuggled into the
    content would put one reader's unsubscribe link wherever the author chose.
    """
    content = json.dumps(update.to_json(), ensure_ascii=False)
    for placeholder in parts.PLACEHOLDERS:
        if placeholder in content:
            raise PlaceholderError(f"update content contains the placeholder {placeholder}")
