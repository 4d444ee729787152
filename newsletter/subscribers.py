"""Subscribers: validation, the status lifecycle, consent, and batched upserts.

Addresses are validated and normalised with email-validator (syntax only, no
DNS look-ups) and are unique case-insensitively through ``email_key``.  The
status lifecycle is ``pending → active → unsubscribed | bounced | complained``;
nothing here ever moves an opted-out subscriber back to ``active`` except an
explicit re-confirmation (double opt-in) or an organiser's explicit command.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, Select, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from newsletter.errors import NotFound, UserError
from newsletter.models import (
    SUBSCRIBER_STATUSES,
    StatusChange,
    Subscriber,
    SubscriberRole,
    UTCDateTime,
    utcnow,
)
from newsletter.roles import normalise_role

OPTED_OUT = frozenset({"unsubscribed", "bounced", "complained"})
# The longest name, organisation or region stored (the columns are VARCHAR(200)).
MAX_TEXT_LENGTH = 200
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators:
# none belongs in a one-line field, and CR/LF would break the email headers the
# name goes into (RFC 5322 display names) as well as the greeting line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# How many rows one upsert batch handles: keeps IN (...) lists and memory small.
UPSERT_BATCH = 1000
# Subscribers on one page of a list (the console's pages, the API's default), and the most.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class SubscriberError(UserError, ValueError):
    """Bad subscriber data; ``field`` names what is wrong."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class SubscriberNotFoundError(NotFound, LookupError):
    """No subscriber with that address."""


# The common address, checked without email-validator: an ASCII dot-atom local
# part (RFC 5322 atext and dots) of at most 64 characters.  email-validator
# leaves such a local part as it is, so only the domain needs its judgement,
# once per distinct domain (a list has few).  Per address it was three
# quarters of validating a CSV row (11.7 of 15.9 s for 10,000 rows, profiled);
# anything else still goes through it.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MAX_LOCAL, _MAX_ADDRESS = 64, 254


@functools.lru_cache(maxsize=4096)
def _normalised_domain(domain: str) -> str | None:
    """email-validator's normal form of ``domain``, or None if it rejects it."""
    try:
        return str(validate_email(f"a@{domain}", check_deliverability=False).domain)
    except EmailNotValidError:
        return None


def normalise_email(raw: str) -> tuple[str, str]:
    """Return ``(email, email_key)``: the normalised address and its lower-cased key.

    Raises SubscriberError("email", …) when the address is empty or invalid.
    """
    text = raw.strip()
    if not text:
        raise SubscriberError("email", "is empty")
    if len(text) > 320:  # RFC 5321's path limit; also keeps a huge value out of the message
        raise SubscriberError("email", f"is {len(text)} characters long; at most 320 are allowed")
    local, at, domain = text.rpartition("@")
    if at and len(local) <= _MAX_LOCAL and _PLAIN_LOCAL.fullmatch(local):
        normal_domain = _normalised_domain(domain)
        if normal_domain is not None and len(local) + 1 + len(normal_domain) <= _MAX_ADDRESS:
            address = f"{local}@{normal_domain}"
            return address, address.lower()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError("email", f"{text!r} is not a valid address: {exc}") from exc
    return result.normalized, result.normalized.lower()


def check_text(field_name: str, value: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Return ``value`` stripped if it fits a one-line profile field; raises SubscriberError.

    Every entry point (the subscribe and preferences forms, the API, the CLI
    and each CSV row) validates names, organisations and regions through
    this one function: a single line of at most ``max_length`` characters,
    with no control characters (NUL, CR, LF, tab, …).
    """
    text = value.strip()
    found = _CONTROL.search(text)
    if found is not None:
        what = {"\n": "a line break", "\r": "a line break", "\x00": "a NUL byte"}.get(
            found.group(), f"the control character U+{ord(found.group()):04X}"
        )
        raise SubscriberError(field_name, f"must be a single line of text (it contains {what})")
    if len(text) > max_length:
        raise SubscriberError(
            field_name, f"is {len(text)} characters long; at most {max_length} are allowed"
        )
    return text


def check_status(status: str) -> str:
    """Return ``status`` if it is a known subscriber status; raises SubscriberError."""
    value = status.strip().lower()
    if value not in SUBSCRIBER_STATUSES:
        expected = ", ".join(SUBSCRIBER_STATUSES)
        raise SubscriberError("status", f"unknown status {status!r} (expected one of {expected})")
    return value


@dataclass
class SubscriberInput:
    """Validated data for one subscriber, as a form, the CLI or a CSV row gives it."""

    email: str
    email_key: str
    name: str = ""
    organisation: str = ""
    region: str = ""
    roles: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str | None = None

    @classmethod
    def build(
        cls,
        email: str,
        *,
        name: str = "",
        organisation: str = "",
        region: str = "",
        roles: Iterable[str] = (),
        attributes: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> SubscriberInput:
        """Validate and normalise every field; raises SubscriberError naming the field."""
        address, key = normalise_email(email)
        slugs: list[str] = []
        for role in roles:
            if role.strip():
                try:
                    slug = _role_slug(role)
                except ValueError as exc:
                    raise SubscriberError("roles", str(exc)) from exc
                if slug not in slugs:
                    slugs.append(slug)
        return cls(
            email=address,
            email_key=key,
            name=check_text("name", name),
            organisation=check_text("organisation", organisation),
            region=check_text("region", region),
            roles=slugs,
            attributes=dict(attributes or {}),
            status=check_status(status) if status and status.strip() else None,
        )


@functools.lru_cache(maxsize=1024)
def _role_slug(name: str) -> str:
    """:func:`normalise_role`, remembered: a list repeats a handful of role names."""
    return normalise_role(name)


def set_status(
    subscriber: Subscriber,
    status: str,
    *,
    now: datetime | None = None,
    source: str = "",
    send_id: int | None = None,
    consent_source: str | None = None,
    consent_ip: str | None = None,
) -> bool:
    """Move ``subscriber`` to ``status``, stamping the times; returns False if unchanged.

    The change goes into the subscriber's history with ``source`` (who or
    what made it) and ``send_id`` (the send whose unsubscribe link was used).
    ``consent_source`` (and ``consent_ip``) record consent given with the
    change, as :func:`record_consent` does, on the same history row.
    """
    status = check_status(status)
    if subscriber.status == status:
        return False
    when = now or utcnow()
    previous = subscriber.status
    subscriber.status = status
    subscriber.status_changed_at = when
    if status == "active" and subscriber.confirmed_at is None:
        subscriber.confirmed_at = when
    if status == "unsubscribed":
        subscriber.unsubscribed_at = when
    if consent_source is not None:
        _stamp_consent(subscriber, consent_source, consent_ip, when)
    subscriber.history.add(
        StatusChange(
            at=when,
            status=status,
            previous=previous,
            source=source[:200],
            send_id=send_id,
            consent_source=subscriber.consent_source if consent_source is not None else None,
            consent_ip=consent_ip if consent_source is not None else None,
        )
    )
    return True


def record_consent(
    subscriber: Subscriber, source: str, *, ip: str | None = None, now: datetime | None = None
) -> None:
    """Record where and when the subscriber consented (GDPR Art. 7(1) evidence).

    Kept in the history too, as a row that leaves the status as it is.  When
    consent comes with a status change, pass it to :func:`set_status` instead.
    """
    when = now or utcnow()
    _stamp_consent(subscriber, source, ip, when)
    subscriber.history.add(
        StatusChange(
            at=when,
            status=subscriber.status,
            previous=subscriber.status,
            source="consent recorded",
            consent_source=source[:200],
            consent_ip=ip,
        )
    )


def _stamp_consent(subscriber: Subscriber, source: str, ip: str | None, when: datetime) -> None:
    subscriber.consent_source = source[:200]
    subscriber.consent_at = when
    subscriber.consent_ip = ip


def by_key(session: Session, email_key: str) -> Subscriber | None:
    """The subscriber whose lower-cased address is ``email_key``, or None."""
    return session.scalars(select(Subscriber).where(Subscriber.email_key == email_key)).first()


def find(session: Session, email: str) -> Subscriber:
    """Return the subscriber with ``email`` (any case); raises SubscriberNotFoundError."""
    _, key = normalise_email(email)
    found = by_key(session, key)
    if found is None:
        raise SubscriberNotFoundError(f"no subscriber {email!r}")
    return found


def search(
    session: Session,
    query: str = "",
    status: str = "",
    after: int = 0,
    limit: int = PAGE_SIZE,
) -> tuple[list[Subscriber], int | None]:
    """One page of the subscribers whose address, name or organisation contains ``query``,
    by id after ``after``; returns (subscribers, the ``after`` of the next page or None).

    ``status`` (when given) keeps only that status; an unknown one raises
    UserError.  Keyset pagination (``id > after``): pages stay fast however
    long the list.  A page holds ``limit`` rows, at most :data:`MAX_PAGE_SIZE`.
    """
    if status and status not in SUBSCRIBER_STATUSES:
        raise UserError(f"status must be one of {', '.join(SUBSCRIBER_STATUSES)}")
    stmt = select(Subscriber).where(Subscriber.id > after)
    needle = query.strip().lower()
    if needle:
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Subscriber.email_key.like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
                func.lower(Subscriber.organisation).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(Subscriber.status == status)
    size = max(1, min(limit, MAX_PAGE_SIZE))
    found = list(session.scalars(stmt.order_by(Subscriber.id).limit(size + 1)))
    rows = found[:size]
    return rows, rows[-1].id if len(found) > size else None


def listing(
    session: Session, *, status: str | None = None, audience: Select[int] | None = None
) -> list[Subscriber]:
    """Every subscriber in id order; only those with ``status`` (checked with
    :func:`check_status`) and only the ids ``audience`` selects, when given."""
    stmt = select(Subscriber).order_by(Subscriber.id)
    if status:
        stmt = stmt.where(Subscriber.status == check_status(status))
    if audience is not None:
        stmt = stmt.where(Subscriber.id.in_(audience))
    return list(session.scalars(stmt))


def count_by_status(session: Session) -> dict[str, int]:
    """How many subscribers have each status (statuses nobody has are left out)."""
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {status: int(n) for status, n in rows.all()}


def mark_bounced(session: Session | Connection, email_key: str, source: str = "bounced") -> None:
    """Set the subscriber at ``email_key`` to ``bounced`` if it is active.

    Conditional statements (no ORM object), so the result writer can run them
    on its own connection; the same status change as :func:`set_status`,
    history row (with ``source``) included.
    """
    now = utcnow()
    active = (Subscriber.email_key == email_key, Subscriber.status == "active")
    session.execute(
        insert(StatusChange).from_select(
            ["subscriber_id", "at", "status", "previous", "source"],
            select(
                Subscriber.id,
                literal(now, UTCDateTime()),
                literal("bounced"),
                Subscriber.status,
                literal(source[:200]),
            ).where(*active),
        )
    )
    session.execute(
        update(Subscriber)
        .where(*active)
        .values(status="bounced", status_changed_at=now)
        .execution_options(synchronize_session=False)
    )


def to_json(subscriber: Subscriber) -> dict[str, Any]:
    """The subscriber as the CLI and API print it."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "organisation": subscriber.organisation,
        "region": subscriber.region,
        "roles": subscriber.role_names,
        "status": subscriber.status,
        "attributes": subscriber.attributes,
        "reminders_enabled": subscriber.reminders_enabled,
        "created_at": subscriber.created_at.isoformat(),
        "status_changed_at": subscriber.status_changed_at.isoformat(),
        "consent": {
            "source": subscriber.consent_source,
            "at": subscriber.consent_at.isoformat() if subscriber.consent_at else None,
            "ip": subscriber.consent_ip,
        },
    }


@dataclass
class UpsertResult:
    """What an upsert did; the lists hold indexes into its input rows.

    ``kept_opted_out``: rows that asked to make an opted-out address pending or
    active (the opt-out was kept).  ``skipped_opted_out``: rows for an opted-out
    address that :func:`bulk_import` left alone.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_opted_out: list[int] = field(default_factory=list)
    # Inputs left alone because the address has opted out (bulk import only).
    skipped_opted_out: list[int] = field(default_factory=list)


def upsert(
    session: Session,
    rows: Sequence[SubscriberInput],
    *,
    default_status: str,
    consent_source: str,
) -> UpsertResult:
    """Create or update subscribers by address, in batches; the caller commits.

    New subscribers get ``row.status`` or ``default_status`` and a consent
    record.  Existing ones get the row's name, organisation, region, roles and
    attributes; their status changes only if the row names one, and never from
    an opt-out back to pending or active (``kept_opted_out`` lists the indexes
    of those rows).  Re-applying the same rows changes nothing.

    Raises ValueError if two rows share an address: callers report duplicates
    to the user first (a CSV import names both lines).
    """
    if len({row.email_key for row in rows}) != len(rows):
        raise ValueError("upsert rows must have distinct addresses")
    result = UpsertResult()
    analysed_at = 0
    for start in range(0, len(rows), UPSERT_BATCH):
        _upsert_batch(
            session,
            rows[start : start + UPSERT_BATCH],
            start,
            default_status,
            consent_source,
            result,
        )
        if result.created >= max(ANALYZE_AFTER, 2 * analysed_at):
            _analyse(session)
            analysed_at = result.created
    return result


# PostgreSQL plans each batch's look-up with statistics gathered before the
# import began; on a table that grew from nothing it then scans it whole per
# batch, so a 100,000-row import took over two minutes.  Analysing whenever
# the rows created have doubled keeps plans right for a few cheap ANALYZEs.
ANALYZE_AFTER = 5000


def _analyse(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.execute(text("ANALYZE subscribers"))
        session.execute(text("ANALYZE subscriber_roles"))


def _upsert_batch(
    session: Session,
    batch: Sequence[SubscriberInput],
    offset: int,
    default_status: str,
    consent_source: str,
    result: UpsertResult,
) -> None:
    keys = [row.email_key for row in batch]
    existing = {
        s.email_key: s
        for s in session.scalars(select(Subscriber).where(Subscriber.email_key.in_(keys)))
    }
    now = utcnow()
    new_rows: list[SubscriberInput] = []
    for index, row in enumerate(batch, start=offset):
        current = existing.get(row.email_key)
        if current is None:
            new_rows.append(row)
            continue
        changed = _apply(current, row, now)
        if row.status and row.status != current.status:
            if current.status in OPTED_OUT and row.status in ("pending", "active"):
                result.kept_opted_out.append(index)
            else:
                changed = set_status(current, row.status, now=now, source=consent_source) or changed
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
    if new_rows:
        _insert_new(session, new_rows, default_status, consent_source, now)
        result.created += len(new_rows)
    session.flush()


def _apply(subscriber: Subscriber, row: SubscriberInput, now: datetime) -> bool:
    """Copy the row's profile fields onto ``subscriber``; True if anything changed."""
    changed = False
    for name in ("email", "name", "organisation", "region"):
        value = getattr(row, name)
        if getattr(subscriber, name) != value:
            setattr(subscriber, name, value)
            changed = True
    if subscriber.attributes != row.attributes:
        subscriber.attributes = dict(row.attributes)
        changed = True
    if subscriber.role_names != sorted(row.roles):
        subscriber.roles = [SubscriberRole(role=r) for r in row.roles]
        changed = True
    if changed:
        subscriber.updated_at = now
    return changed


def _insert_new(
    session: Session,
    rows: Sequence[SubscriberInput],
    default_status: str,
    consent_source: str,
    now: datetime,
) -> None:
    """Insert new subscribers with one multi-row INSERT … RETURNING (fast on both databases)."""
    values = []
    for row in rows:
        status = row.status or default_status
        values.append(
            {
                "email": row.email,
                "email_key": row.email_key,
                "name": row.name,
                "organisation": row.organisation,
                "region": row.region,
                "status": status,
                "attributes": row.attributes,
                "reminders_enabled": True,
                "created_at": now,
                "updated_at": now,
                "status_changed_at": now,
                "confirmed_at": now if status == "active" else None,
                "unsubscribed_at": now if status == "unsubscribed" else None,
                "consent_source": consent_source[:200],
                "consent_at": now,
                "consent_ip": None,
            }
        )
    returned = session.execute(
        insert(Subscriber).returning(
            Subscriber.id, Subscriber.email_key, sort_by_parameter_order=True
        ),
        values,
    ).all()
    ids = {key: sub_id for sub_id, key in returned}
    session.execute(
        insert(StatusChange),
        [
            {
                "subscriber_id": ids[row.email_key],
                "at": now,
                "status": value["status"],
                "previous": None,
                "source": consent_source[:200],
                "consent_source": consent_source[:200],
                "consent_ip": None,
                "send_id": None,
            }
            for row, value in zip(rows, values, strict=True)
        ],
    )
    role_values = [
        {"subscriber_id": ids[row.email_key], "role": role} for row in rows for role in row.roles
    ]
    if role_values:
        session.execute(insert(SubscriberRole), role_values)


def remove(session: Session, email: str) -> None:
    """Delete the subscriber with ``email`` and their roles; raises SubscriberNotFoundError.

    Deliveries and event recipients go with them (GDPR erasure).  To stop
    mail but keep the record, unsubscribe instead.
    """
    session.delete(find(session, email))


def iter_all(session: Session, batch: int = 1000) -> Iterator[Subscriber]:
    """Every subscriber in id order, fetched by keyset pagination (flat memory)."""
    last_id = 0
    while True:
        page = session.scalars(
            select(Subscriber).where(Subscriber.id > last_id).order_by(Subscriber.id).limit(batch)
        ).all()
        if not page:
            return
        yield from page
        last_id = page[-1].id
        session.expunge_all()


def attribute_names(session: Session, batch: int = 5000) -> set[str]:
    """Every attribute name any subscriber has (reads the attributes column only, paged)."""
    names: set[str] = set()
    last_id = 0
    while True:
        page = session.execute(
            select(Subscriber.id, Subscriber.attributes)
            .where(Subscriber.id > last_id)
            .order_by(Subscriber.id)
            .limit(batch)
        ).all()
        if not page:
            return names
        for _, attributes in page:
            names.update(attributes or {})
        last_id = page[-1][0]


@dataclass(frozen=True)
class Profile:
    """A subscriber's exportable data, read without the ORM."""

    email: str
    name: str
    organisation: str
    region: str
    roles: list[str]
    status: str
    attributes: dict[str, Any]


def iter_profiles(session: Session, batch: int = 5000) -> Iterator[Profile]:
    """Every subscriber's profile in id order: two plain queries per page, flat memory.

    2.5 times faster than loading ORM objects (:func:`iter_all`): 7.1 s against
    17.6 s for 20,000 subscribers on PostgreSQL, in one measurement.
    """
    last_id = 0
    while True:
        page = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.organisation,
                Subscriber.region,
                Subscriber.status,
                Subscriber.attributes,
            )
            .where(Subscriber.id > last_id)
            .order_by(Subscriber.id)
            .limit(batch)
        ).all()
        if not page:
            return
        roles: dict[int, list[str]] = defaultdict(list)
        for subscriber_id, role in session.execute(
            select(SubscriberRole.subscriber_id, SubscriberRole.role)
            .where(SubscriberRole.subscriber_id.between(page[0].id, page[-1].id))
            .order_by(SubscriberRole.subscriber_id, SubscriberRole.role)
        ).all():
            roles[subscriber_id].append(role)
        for row in page:
            yield Profile(
                email=row.email,
                name=row.name,
                organisation=row.organisation,
                region=row.region,
                roles=roles.get(row.id, []),
                status=row.status,
                attributes=row.attributes or {},
            )
        last_id = page[-1].id
