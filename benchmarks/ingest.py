"""Time to parse each bundled sample update.

Run: ``python benchmarks/ingest.py``.  Prints, per sample, the median time of
repeated parses and its ratio to a baseline measured in the same run (reading
and decoding the same file without parsing), so numbers compare across
machines.  Audience rules are loaded once, as a long-running worker would.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from newsletter.ingest import parse_file
from newsletter.ingest.audiences import load_rules
from newsletter.ingest.reading import read_file
from newsletter.paths import SAMPLES_DIR

ROUNDS = 200


def median_seconds(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median wall time of ``action`` over ``rounds`` runs, after one warm-up."""
    action()
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    """Print one line per sample: size, parse time, and ratio to the read baseline."""
    rules = load_rules()
    samples: list[Path] = sorted(SAMPLES_DIR.glob("*.txt"))
    print(f"{'sample':<26} {'bytes':>6} {'read µs':>9} {'parse µs':>9} {'ratio':>7}")
    for path in samples:
        baseline = median_seconds(partial(read_file, path))
        parse = median_seconds(partial(parse_file, path, rules=rules))
        print(
            f"{path.name:<26} {path.stat().st_size:>6} {baseline * 1e6:>9.1f} "
            f"{parse * 1e6:>9.1f} {parse / baseline:>6.1f}x"
        )


if __name__ == "__main__":
    main()
