"""Per-recipient cost of three ways to produce each subscriber's message.

Run: ``python benchmarks/render.py [--recipients N]``.  Prints, in one run,
the time per recipient of

1. Jinja2 + premailer per recipient (``render_edition`` for every reader; the
   baseline the design forbids).  Only the render is timed, not the MIME
   assembly that would still follow, so the ratios below are conservative;
2. a fresh ``email.message.EmailMessage`` per recipient from one rendered
   edition (placeholders replaced with ``str.replace``, text + HTML
   alternatives and the .ics attachment, serialised with ``as_bytes``);
3. splicing: ``newsletter.message.MessageTemplate`` built once per edition,
   ``personalise(recipient)`` per reader,

and how many times cheaper (2) and (3) are than (1).  The design target is
splicing at least 50 times cheaper than Jinja2 + premailer per recipient.
Timings are wall-clock medians of several rounds on this machine; tests never
assert on them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from naive_mime import email_message

from newsletter.calendar import publish_part
from newsletter.config import Settings
from newsletter.content import Update
from newsletter.ingest import parse_file
from newsletter.message import MessageTemplate, Recipient
from newsletter.paths import SAMPLES_DIR
from newsletter.render import render_edition

SAMPLE = "north-east-2017-04.txt"  # has a featured event, so an .ics part too
SEGMENT = "workforce-lead"
SETTINGS = Settings(base_url="https://news.example.org")


def sample_update() -> Update:
    """The bundled April 2017 sample, stored-looking (ids and a UID on its event)."""
    update = parse_file(SAMPLES_DIR / SAMPLE).update
    update.id = 17
    for index, event in enumerate(update.events, start=1):
        event.id = index
        event.uid = f"event-{index}@{SETTINGS.list_id}"
    return update


def recipients(count: int) -> list[Recipient]:
    """``count`` readers with signed links (signed outside the timed loops)."""
    return [
        Recipient.for_subscriber(
            f"reader{i}@example.org", f"Reader {i}", i, i, send_id=1, settings=SETTINGS
        )
        for i in range(1, count + 1)
    ]


def per_recipient(run: Callable[[Recipient], object], readers: Sequence[Recipient]) -> float:
    """Median over five rounds of the seconds ``run`` takes per reader."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for reader in readers:
            run(reader)
        rounds.append((time.perf_counter() - start) / len(readers))
    return statistics.median(rounds)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print the three costs and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=200, help="readers per round")
    args = parser.parse_args(argv)
    update = sample_update()
    readers = recipients(args.recipients)
    edition = render_edition(update, SEGMENT, settings=SETTINGS)
    ics = [publish_part(event) for event in update.events]
    template = MessageTemplate.build(edition, ics, settings=SETTINGS)

    # (1) is ~1000x slower: fewer readers keep the run short; it is per reader anyway.
    few = readers[: max(5, len(readers) // 20)]
    render = per_recipient(lambda r: render_edition(update, SEGMENT, settings=SETTINGS), few)
    mime = per_recipient(lambda r: email_message(edition, ics, r, SETTINGS), readers)
    splice = per_recipient(template.personalise, readers)

    print(f"sample {SAMPLE}, segment {SEGMENT}, {len(readers)} recipients per round")
    print(f"  HTML part {len(edition.html.encode()):,} bytes, text part {len(edition.text):,}")
    print(f"{'method':<40}{'per recipient':>16}{'vs Jinja2+premailer':>22}")
    for label, cost in (
        ("1. Jinja2 + premailer per recipient", render),
        ("2. fresh EmailMessage per recipient", mime),
        ("3. splice prepared message", splice),
    ):
        print(f"{label:<40}{cost * 1e6:>13,.1f} µs{render / cost:>21,.0f}x")
    print(f"splicing vs fresh EmailMessage: {mime / splice:,.0f}x cheaper")
    verdict = "met" if render / splice >= 50 else "NOT met"
    print(f"target (splicing >= 50x cheaper than Jinja2 + premailer): {verdict}")


if __name__ == "__main__":
    main()
