"""Named segments: stored rules over subscriber fields, and their audiences.

Built-in segments ``dcs``, ``lead-member`` and ``workforce-lead`` select by
role, and ``all`` selects everyone; they are created by ``newsletter init``
and cannot be removed.  Only ``active`` subscribers are ever in an audience,
whatever the rule says.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, select
from sqlalchemy.orm import Session

from newsletter.errors import Conflict, NotFound, UserError
from newsletter.models import Segment, Subscriber, SubscriberRole
from newsletter.roles import BUILTIN_ROLES
from newsletter.segment_rules import (
    Match,
    RuleError,
    parse_rule,
    role_condition,
    role_matches,
    to_sql,
)

BUILTIN_SEGMENTS: dict[str, tuple[str, str]] = {
    **{slug: (f"role:{slug}", label) for slug, label in BUILTIN_ROLES.items()},
    "all": ("status:active", "Everyone subscribed"),
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


class SegmentError(UserError, ValueError):
    """A segment that cannot be created, found or removed."""


class SegmentNotFoundError(SegmentError, NotFound):
    """No segment with that name."""


class BuiltInSegmentError(SegmentError, Conflict):
    """A built-in segment's rule cannot be changed, nor the segment removed."""


def ensure_builtins(session: Session) -> None:
    """Create the built-in segments that are missing; idempotent."""
    existing = set(session.scalars(select(Segment.name)))
    for name, (rule, label) in BUILTIN_SEGMENTS.items():
        if name not in existing:
            session.add(Segment(name=name, rule=rule, description=label, builtin=True, public=True))
    session.flush()


def get(session: Session, name: str) -> Segment:
    """Return the segment called ``name``; raises SegmentError if there is none."""
    segment = session.scalars(select(Segment).where(Segment.name == name)).first()
    if segment is None:
        known = ", ".join(session.scalars(select(Segment.name).order_by(Segment.name)))
        raise SegmentNotFoundError(f"no segment {name!r} (known: {known})")
    return segment


def list_all(session: Session) -> list[Segment]:
    """Every segment, built-ins first, then by name."""
    return list(session.scalars(select(Segment).order_by(Segment.builtin.desc(), Segment.name)))


def label_of(session: Session, name: str) -> str:
    """How the segment called ``name`` is named to people; raises NotFound if there is none."""
    return display_name(get(session, name))


def display_name(segment: Segment) -> str:
    """How the segment is named to people and in emails ("North East leaders").

    Its label when one is set; else the built-in name, or one made from the slug.
    """
    # Imported here: the ``newsletter.render`` package loads Jinja2, which
    # scheduling a send does not need.
    from newsletter.render.sections import segment_name

    return segment.label.strip() or segment_name(segment.name)


def _label(text: str) -> str:
    value = text.strip()
    if "\n" in value or "\r" in value or len(value) > 200:
        raise SegmentError("label: one line of at most 200 characters")
    return value


def add(
    session: Session,
    name: str,
    rule: str,
    description: str = "",
    label: str = "",
    *,
    public: bool = False,
) -> Segment:
    """Create a segment; raises RuleError for a bad rule, SegmentError for a bad or taken name.

    ``label`` is its display name (empty: made from the name).  A new segment
    is private (not listed on /calendar, no public feed) unless ``public``.
    """
    if not _NAME.match(name):
        raise SegmentError(
            f"segment name {name!r}: use lower-case letters, digits and hyphens (a slug)"
        )
    parse_rule(rule)
    if session.scalars(select(Segment.id).where(Segment.name == name)).first() is not None:
        raise SegmentError(f"segment {name!r} already exists")
    segment = Segment(
        name=name,
        rule=rule,
        description=description.strip(),
        label=_label(label),
        builtin=False,
        public=public,
    )
    session.add(segment)
    session.flush()
    return segment


def describe(
    session: Session, name: str, *, label: str | None = None, description: str | None = None
) -> Segment:
    """Change a segment's display name and/or description (built-ins too; rules stay).

    An empty label goes back to the default name.  Raises SegmentError.
    """
    segment = get(session, name)
    if label is not None:
        segment.label = _label(label)
    if description is not None:
        segment.description = description.strip()
    session.flush()
    return segment


def set_public(session: Session, name: str, public: bool) -> Segment:
    """List (or unlist) the segment's calendar feed on /calendar; raises SegmentError."""
    segment = get(session, name)
    segment.public = public
    session.flush()
    return segment


def list_public(session: Session) -> list[Segment]:
    """The segments whose calendar feeds are public, built-ins first, then by name."""
    return [s for s in list_all(session) if s.public]


def update_rule(session: Session, name: str, rule: str) -> Segment:
    """Change a custom segment's rule; raises RuleError, SegmentNotFoundError or
    BuiltInSegmentError."""
    segment = get(session, name)
    if segment.builtin:
        raise BuiltInSegmentError(f"segment {name!r} is built in and cannot be changed")
    parse_rule(rule)
    segment.rule = rule
    return segment


def remove(session: Session, name: str) -> None:
    """Delete a custom segment; raises BuiltInSegmentError or SegmentNotFoundError."""
    segment = get(session, name)
    if segment.builtin:
        raise BuiltInSegmentError(f"segment {name!r} is built in and cannot be removed")
    session.delete(segment)


def audience_condition(rule: str) -> ColumnElement[bool]:
    """WHERE condition over ``Subscriber``: active and matching ``rule``; raises RuleError."""
    return and_(Subscriber.status == "active", to_sql(parse_rule(rule)))


def audience(rule: str) -> Select[int]:
    """SELECT of the ids of active subscribers matching ``rule``; raises RuleError."""
    return select(Subscriber.id).where(audience_condition(rule))


def count(session: Session, name: str) -> int:
    """Number of active subscribers in the segment called ``name``."""
    return count_rule(session, get(session, name).rule)


def count_rule(session: Session, rule: str) -> int:
    """Number of active subscribers matching ``rule``; raises RuleError."""
    query = select(func.count()).select_from(audience(rule).subquery())
    return int(session.scalar(query) or 0)


def count_first_matches(session: Session, rules: list[str]) -> list[int]:
    """Active subscribers per rule, each counted once: for the first rule they match.

    These are the numbers planning gives the segments of a send, which puts a
    person in several segments in the first listed: rule ``i`` counts whoever
    matches it and none of the rules before it, so the counts add up to the
    send's recipients.  Raises RuleError.

    One statement and one pass over the subscribers: each subscriber's roles
    are gathered once (joined and grouped by subscriber) and every rule is
    evaluated on them, rather than one query per rule with an ``EXISTS`` per
    ``role:`` term.  Measured on PostgreSQL with 1,000,000 subscribers
    (docs/performance.md): the three role segments' counts took 2.0 s one
    query each and take 0.57 s this way.
    """
    trees = [parse_rule(rule) for rule in rules]
    matches = list(dict.fromkeys(m for tree in trees for m in role_matches(tree)))
    # Per subscriber: 1 if any of their roles matches the term, else 0 (also
    # with no roles at all), as the EXISTS of :func:`to_sql` would say.
    has_role: dict[Match, ColumnElement[bool]] = {
        m: func.coalesce(func.max(case((role_condition(m), 1), else_=0)), 0) == 1 for m in matches
    }
    firsts = [
        and_(
            to_sql(tree, has_role.__getitem__),
            *(not_(to_sql(earlier, has_role.__getitem__)) for earlier in trees[:index]),
        )
        for index, tree in enumerate(trees)
    ]
    per_subscriber = (
        select(*(first.label(f"rule_{index}") for index, first in enumerate(firsts)))
        .select_from(Subscriber)
        .where(Subscriber.status == "active")
    )
    if matches:
        # Grouped by the primary key, the subscriber's own columns may appear
        # beside the aggregates (organisation, region, attributes terms).
        per_subscriber = per_subscriber.outerjoin(
            SubscriberRole, SubscriberRole.subscriber_id == Subscriber.id
        ).group_by(Subscriber.id)
    rows = per_subscriber.subquery()
    counts = session.execute(select(*(func.count().filter(column) for column in rows.c))).one()
    return [int(n) for n in counts]


__all__ = [
    "BUILTIN_SEGMENTS",
    "RuleError",
    "SegmentError",
    "add",
    "audience",
    "audience_condition",
    "count",
    "count_first_matches",
    "count_rule",
    "ensure_builtins",
    "get",
    "list_all",
    "remove",
    "update_rule",
]
