"""One message for one ad-hoc address: test copies and ``newsletter render``.

Uses exactly the production path (render once, build the template, splice)
so that what an organiser checks is what subscribers get.  A known
subscriber gets their own name and links; any other address gets a
recipient with no subscriber behind it (id 0), whose links lead to a page
saying so rather than to anyone's preferences.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter import segments as segment_store
from newsletter.dispatch.runtime import get_runtime
from newsletter.editions import featured_calendars
from newsletter.message import MessageTemplate, Recipient
from newsletter.parts import CalendarPart, RenderedEdition
from newsletter.render import render_edition
from newsletter.subscribers import SubscriberNotFoundError, find, normalise_email
from newsletter.transports import OutgoingMessage
from newsletter.updates import load_update

TEST_PREFIX = "[Test] "


@dataclass(frozen=True)
class ComposedMessage:
    """The rendered edition, its calendar parts and the final message for one address."""

    edition: RenderedEdition
    calendar_parts: list[CalendarPart]
    message: OutgoingMessage


def recipient_for(session: Session, email: str) -> Recipient:
    """The subscriber's own recipient if ``email`` is subscribed, else an anonymous one."""
    address, _ = normalise_email(email)
    try:
        subscriber = find(session, address)
    except SubscriberNotFoundError:
        return Recipient.for_subscriber(address, None, 0, None)
    return Recipient.for_subscriber(subscriber.email, subscriber.name or None, subscriber.id, None)


def compose(
    session: Session,
    update_id: int,
    segment: str,
    email: str,
    *,
    subject: str | None = None,
    subject_prefix: str = "",
) -> ComposedMessage:
    """Render the update's ``segment`` edition and build the message for ``email``.

    ``subject`` replaces the edition's own; ``subject_prefix`` goes in front
    of whichever is used ("[Test] ").
    """
    update = load_update(session, update_id)
    name = segment_store.display_name(segment_store.get(session, segment))
    edition = render_edition(update, segment, segment_name=name, subject=subject)
    _, parts = featured_calendars(update)
    template = MessageTemplate.build(edition, parts, subject=subject_prefix + edition.subject)
    return ComposedMessage(edition, parts, template.outgoing(recipient_for(session, email)))


def send_test_copy(
    session: Session, update_id: int, segment: str, email: str, *, subject: str | None = None
) -> str:
    """Send one copy, subject marked "[Test]", to ``email`` only; returns its Message-ID.

    Raises TransportError when the transport refuses it.
    """
    composed = compose(
        session, update_id, segment, email, subject=subject, subject_prefix=TEST_PREFIX
    )
    get_runtime().transport.send(composed.message)
    return composed.message.message_id
