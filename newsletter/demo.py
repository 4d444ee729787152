"""The demo: the whole main job on embedded defaults, in a fresh folder.

It makes a SQLite store, ingests the bundled sample updates, adds about 300
sample subscribers across the three roles and the North East's 12 local
authorities, sends each update to the three role segments (featured events
attached as calendar entries), sends an invitation for each featured event,
and writes the messages to an outbox folder with a browsable index.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import ensure_secret_key, get_settings, reset_settings
from newsletter.db import get_engine, reset_engines, session_scope
from newsletter.dispatch import control
from newsletter.dispatch.embedded import run_until_idle
from newsletter.dispatch.runtime import set_runtime
from newsletter.errors import UserError
from newsletter.events.queries import get_event
from newsletter.ingest import parse_file
from newsletter.migrate import upgrade_to_head
from newsletter.outbox_index import write_index
from newsletter.paths import SAMPLES_DIR
from newsletter.roles import slugify
from newsletter.segments import ensure_builtins
from newsletter.sends import counts, create_send, get_send
from newsletter.subscribers import SubscriberInput, upsert
from newsletter.updates import store_update

LOCAL_AUTHORITIES = (
    "Darlington", "Durham", "Gateshead", "Hartlepool", "Middlesbrough", "Newcastle",
    "North Tyneside", "Northumberland", "Redcar and Cleveland", "South Tyneside",
    "Stockton-on-Tees", "Sunderland",
)  # fmt: skip
FIRST_NAMES = (
    "Aisha", "Ben", "Catherine", "David", "Emma", "Farid", "Grace", "Harry", "Isla", "James",
    "Katie", "Liam", "Margaret", "Nadia", "Oliver", "Priya", "Rachel", "Sam", "Tom", "Yvonne",
)  # fmt: skip
LAST_NAMES = (
    "Armstrong", "Bell", "Charlton", "Dodds", "Elliott", "Forster", "Graham", "Hall", "Iley",
    "Jobling", "Kerr", "Lamb", "Milburn", "Nixon", "O'Neill", "Robson", "Scott", "Thompson",
    "Walton", "Young",
)  # fmt: skip
ROLE_MIX = (
    ("DCS",),
    ("Lead Member",),
    ("Workforce Lead",),
    ("DCS", "Workforce Lead"),
    ("Lead Member", "Workforce Lead"),
)
SEGMENTS = ["dcs", "lead-member", "workforce-lead"]


class DemoError(UserError, ValueError):
    """The demo cannot run as asked (for example, its folder is not empty)."""


@dataclass(frozen=True)
class DemoSend:
    """One send of the demo and its outcome."""

    send_id: int
    what: str
    segments: str
    planned: int
    sent: int
    failed: int
    skipped: int
    pending: int
    status: str


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where its output is."""

    folder: Path
    database: Path
    outbox: Path
    index: Path
    subscribers: int
    updates: list[tuple[int, str, int]]
    sends: list[DemoSend]


def sample_subscribers(count: int = 300, seed: int = 2026) -> list[SubscriberInput]:
    """``count`` plausible subscribers spread over the 12 authorities and the roles."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    people: list[SubscriberInput] = []
    seen: set[str] = set()
    while len(people) < count:
        index = len(people)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        authority = LOCAL_AUTHORITIES[index % len(LOCAL_AUTHORITIES)]
        local = f"{slugify(first)}.{slugify(last)}"
        address = f"{local}{'' if local not in seen else index}@{slugify(authority)}.gov.uk"
        seen.add(local)
        people.append(
            SubscriberInput.build(
                address,
                name=f"{first} {last}",
                organisation=authority,
                region="North East",
                roles=ROLE_MIX[index % len(ROLE_MIX)],
                status="unsubscribed" if index % 97 == 96 else "active",
            )
        )
    return people


def run_demo(folder: Path, *, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Run the demo in ``folder`` (created; must be empty or absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise DemoError(f"{folder} is not empty; choose a fresh folder (--dir)")
    database, outbox = folder / "newsletter.db", folder / "outbox"
    os.environ["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["NEWSLETTER_OUTBOX_DIR"] = str(outbox)
    os.environ.pop("NEWSLETTER_BROKER_URL", None)
    os.environ.pop("NEWSLETTER_SMTP_URL", None)
    reset_settings()
    # Links are signed: with no key configured, the demo's store gets a random
    # one beside it, as `newsletter init` does, so the demo still needs no set-up.
    if ensure_secret_key(get_settings()) is not None:
        reset_settings()
    reset_engines()
    set_runtime(None)
    say = progress or (lambda _: None)

    upgrade_to_head(get_engine())
    with session_scope() as session:
        ensure_builtins(session)
        people = sample_subscribers()
        upsert(session, people, default_status="active", consent_source="demo")
    say(f"Added {len(people)} sample subscribers")

    stored: list[tuple[int, str, int]] = []
    featured: list[int] = []
    with session_scope() as session:
        for path in sorted(SAMPLES_DIR.glob("*.txt")):
            record = store_update(session, parse_file(path).update, source_name=path.name)
            stored.append((record.id, record.title, len(record.events)))
            featured.extend(e.id for e in record.events if e.featured)
    say(f"Ingested {len(stored)} updates")

    send_ids: list[tuple[int, str]] = []
    for update_id, title, _ in stored:
        with session_scope() as session:
            send = create_send(session, update_id=update_id, segments=SEGMENTS)
            send_ids.append((send.id, title))
        control.start_if_due(send.id)
        run_until_idle()
        say(f"Sent {title}")
    for event_id in featured:
        with session_scope() as session:
            event = get_event(session, event_id)
            send = create_send(
                session,
                update_id=event.update_id,
                event_id=event_id,
                kind="invitation",
                segments=["dcs"],
            )
            send_ids.append((send.id, f"Invitation: {event.title}"))
        control.start_if_due(send.id)
        run_until_idle()
        say(f"Sent the invitation to {event.title}")

    results = []
    with session_scope() as session:
        for send_id, what in send_ids:
            s = get_send(session, send_id)
            c = counts(session, send_id)
            results.append(
                DemoSend(
                    send_id,
                    what,
                    ", ".join(s.segments),
                    c.planned,
                    c.sent,
                    c.failed,
                    c.skipped,
                    c.pending,
                    s.status,
                )
            )
    index = write_index(outbox, folder)
    return DemoResult(folder, database, outbox, index, len(people), stored, results)
