"""Time to parse the sample updates and adversarial 1 MB files.

Run: ``python benchmarks/ingest.py``.  Two tables:

1. per sample, the median time of repeated parses and its ratio to a
   baseline measured in the same run (reading and decoding the same file
   without parsing), so numbers compare across machines;
2. per adversarial file (1 MB, the upload limit: one sentence of dates and
   other worst cases for the parsers), the parse time, its time per KB as a
   multiple of the samples' time per KB, and the time at 1 MB over four
   times the time at 256 KB — about 1.0 when the parser is linear in the
   input size (a quadratic parser shows ~4).

Audience rules are loaded once, as a long-running worker would.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from newsletter.ingest import MAX_BYTES, IngestError, parse_bytes, parse_file
from newsletter.ingest.audiences import AudienceRules, load_rules
from newsletter.ingest.reading import read_file
from newsletter.paths import SAMPLES_DIR

ROUNDS = 200
#: Adversarial files to run (all when empty); set by ``--only NAME`` arguments.
ONLY: list[str] = []
ADVERSARIAL_ROUNDS = 3
TITLE = "North East Update April 2017\n\nNews\n\n"

#: name -> (text before the repeated unit, the unit, text after)
ADVERSARIAL: dict[str, tuple[str, str, str]] = {
    # The case the upload limit must survive: one sentence made of dates.
    "one sentence of dates": (TITLE, "on 5 March at 10am in Leeds and ", ".\n"),
    "dates with years, times, venues": (
        TITLE,
        "the meeting on 5 March 2019 from 10:00 to 13:00 at the Civic Centre, Sunderland, ",
        ".\n",
    ),
    "day ranges": (TITLE, "between 10 and 12 June, ", ".\n"),
    "month names, no dates": (TITLE, "March May June ", ".\n"),
    "numbers, no dates": (TITLE, "1 2 ", ".\n"),
    "one long bullet item": ("North East Update April 2017\n\n- item\n", "continued line\n", ""),
    "capitalised venue words": (TITLE, "At The Big Hall In Leeds ", ".\n"),
    "time-like numbers": (TITLE, "10-12pm 9.30 ", ".\n"),
    "deep Markdown quotes": ("# North East Update April 2017\n\n", "> ", "deep\n"),
    # Forms read since the second blind round: ISO dates with 24-hour ranges
    # and dashed venues, tab-separated table rows, featured blocks and tags
    # paragraphs in Markdown, addresses spelt with "[at]".
    "ISO dates, 1000–1230, dashes": (
        TITLE,
        "on 2019-03-05, 1000–1230 – Leeds Civic Hall – ",
        ".\n",
    ),
    "table rows with tabs": (
        "North East Update April 2017\n\nDates\n",
        "Tue 5 Mar\tDCS meeting\tCivic Hall\n",
        "",
    ),
    "Markdown featured and tags": (
        "# North East Update April 2017\n\n",
        "> **Featured event**\n> 5 March 2019, 10.00–12.30\n> Forum\n\n**Tags:** SLI (3)\n\n",
        "",
    ),
    "addresses spelt with [at]": (TITLE, "jo [at] ne.example.org ", ".\n"),
    # Forms read since the third blind round: dotted dates with a time range
    # after a span of days, numbered headings, labelled featured blocks.
    "dotted dates, timed spans": (TITLE, "on 6.3.23 and 6-7 June, 9am to 5pm, ", ".\n"),
    "numbered headings": (TITLE, "1. Workforce\n\nThe academy opened.\n\n", ""),
    "labelled featured blocks": (
        TITLE,
        "Featured Event\nSummit\nDate: 18 May 2023\nTime: 10:00 – 15:30\nVenue: Hall\n\n",
        "",
    ),
}


def median_seconds(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median wall time of ``action`` over ``rounds`` runs, after one warm-up."""
    action()
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def adversarial(name: str, size: int) -> bytes:
    """The adversarial file ``name`` cut to at most ``size`` bytes."""
    head, unit, tail = ADVERSARIAL[name]
    count = (size - len(head.encode()) - len(tail.encode())) // len(unit.encode())
    return (head + unit * count + tail).encode()


def parse_or_refuse(data: bytes, name: str, rules: AudienceRules) -> None:
    """Parse ``data``; a refusal (IngestError) is a result too, and is timed as one."""
    with contextlib.suppress(IngestError):
        parse_bytes(data, name, rules=rules)


def main() -> None:
    """Print the two tables described in the module docstring."""
    rules = load_rules()
    samples: list[Path] = sorted(SAMPLES_DIR.glob("*.txt"))
    print(f"{'sample':<26} {'bytes':>6} {'read µs':>9} {'parse µs':>9} {'ratio':>7}")
    per_kb: list[float] = []
    for path in samples:
        baseline = median_seconds(partial(read_file, path))
        parse = median_seconds(partial(parse_file, path, rules=rules))
        size = path.stat().st_size
        per_kb.append(parse / (size / 1024))
        print(
            f"{path.name:<26} {size:>6} {baseline * 1e6:>9.1f} "
            f"{parse * 1e6:>9.1f} {parse / baseline:>6.1f}x"
        )
    sample_per_kb = statistics.mean(per_kb)
    print()
    print(
        f"{'adversarial file (1 MB)':<32} {'parse s':>8} {'per KB vs samples':>18}"
        f" {'1 MB / 4×256 KB':>16}"
    )
    for name in [n for n in ADVERSARIAL if not ONLY or n in ONLY]:
        name_txt = "deep.md" if "Markdown" in name else "adversarial.txt"
        full = adversarial(name, MAX_BYTES)
        quarter = adversarial(name, MAX_BYTES // 4)
        whole = median_seconds(partial(parse_or_refuse, full, name_txt, rules), ADVERSARIAL_ROUNDS)
        part = median_seconds(
            partial(parse_or_refuse, quarter, name_txt, rules), ADVERSARIAL_ROUNDS
        )
        ratio = (whole / (len(full) / 1024)) / sample_per_kb
        print(f"{name:<32} {whole:>8.3f} {ratio:>17.1f}x {whole / (4 * part):>15.2f}")


if __name__ == "__main__":
    import sys

    ONLY.extend(arg for arg in sys.argv[1:] if arg != "--only")
    main()
