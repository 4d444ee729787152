"""Events: the one home of the event concept.

* :mod:`newsletter.events.event` — the :class:`Event` type and its JSON form;
* :mod:`newsletter.events.queries` — reading stored events, who has them, which are public;
* :mod:`newsletter.events.changes` — correcting and cancelling, and who is told;
* :mod:`newsletter.events.notices` — what an invitation, update, cancellation or reminder says;
* :mod:`newsletter.events.reminders` — which reminders are due.

The iCalendar output format lives in :mod:`newsletter.calendar`; finding events
in an update's prose lives in :mod:`newsletter.ingest.events`.  This package
imports nothing at load time so that :mod:`newsletter.content` can use the type.
"""
