"""What two test-suite changes saved: the import test, and the Celery tests' fixed sleeps.

Run: ``python benchmarks/suite_speed.py [--rounds N] [--celery]`` from the
repository, with the test services up (``scripts/test`` starts them).

1. The import test as it was before it was rewritten (one parametrised
   test per module, each importing it first; read from git: the parent of
   the oldest commit that modified ``tests/test_imports.py``) against
   today's, each run as its own ``pytest`` process, in turn (old, new, old,
   new …), ``--rounds`` times; the minimum, median and maximum wall time.
2. With ``--celery``: the three Celery tests that slept a fixed time (1.0 s
   for the paused window, 0.3 s after each of two kills) as they were
   before the sleeps became waits (read from git: the parent of the newest
   commit that added or removed ``time.sleep(1.0)`` in
   ``tests/test_dispatch_celery.py``) and as they are now, once each: they
   need Redis, PostgreSQL and Celery workers and take tens of seconds, so
   their own noise is larger than the 1.6 s the sleeps cost.

The old versions are written beside the tests for the run (so the same
conftest applies) and removed afterwards.  Prints figures; judges nothing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CELERY_FILE = "tests/test_dispatch_celery.py"
CELERY_TESTS = "pause_mid_send or sigkill"
_CALL = re.compile(r"^\s*([\d.]+)s call\s+\S+::(\w+)", re.MULTILINE)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def old_import_test_revision() -> str:
    """The commit before the import test was first rewritten."""
    modified = git("log", "--diff-filter=M", "--format=%H", "--", "tests/test_imports.py")
    return git("rev-parse", modified.splitlines()[-1] + "^")


def old_celery_test_revision() -> str:
    """The commit before the Celery tests' one-second sleep was last touched (removed)."""
    touched = git("log", "-S", "time.sleep(1.0)", "--format=%H", "--", CELERY_FILE)
    return git("rev-parse", touched.splitlines()[0] + "^")


@contextmanager
def old_copy(revision: str, path: str, name: str) -> Iterator[Path]:
    """``path`` as it was at ``revision``, written to ``tests/name`` for the block."""
    target = TESTS / name
    target.write_text(git("show", f"{revision}:{path}"), encoding="utf-8")
    try:
        yield target
    finally:
        target.unlink()


def pytest_run(*args: str) -> tuple[float, str]:
    """Wall seconds and output of one ``pytest`` process."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def spread(values: list[float]) -> str:
    return (
        f"min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  "
        f"max {max(values):6.2f} s"
    )


def import_tests(rounds: int) -> None:
    revision = old_import_test_revision()
    with old_copy(revision, "tests/test_imports.py", "_old_test_imports.py") as old:
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(rounds):
            times["old"].append(pytest_run(str(old))[0])
            times["new"].append(pytest_run("tests/test_imports.py")[0])
    print(f"import test, {rounds} runs each, whole pytest process (old: {revision[:10]})")
    for label, values in times.items():
        print(f"  {label}: {spread(values)}")
    saved = statistics.median(times["old"]) - statistics.median(times["new"])
    print(f"  saved (difference of medians): {saved:.2f} s")


def celery_tests() -> None:
    revision = old_celery_test_revision()
    with old_copy(revision, CELERY_FILE, "_old_test_dispatch_celery.py") as old:
        old_calls = _calls(pytest_run(str(old), "-k", CELERY_TESTS, "--durations=0")[1])
        new_calls = _calls(pytest_run(CELERY_FILE, "-k", CELERY_TESTS, "--durations=0")[1])
    print(f"Celery tests that slept 1.6 s in all, one run each (old: {revision[:10]})")
    for name in sorted(old_calls):
        before, after = old_calls[name], new_calls.get(name, float("nan"))
        print(
            f"  {name}: old {before:6.2f} s  new {after:6.2f} s  difference {before - after:+.2f} s"
        )
    total = sum(old_calls.values()) - sum(new_calls.values())
    print(f"  in all: {total:+.2f} s")


def _calls(output: str) -> dict[str, float]:
    """Each test's call time from ``--durations=0``."""
    return {name: float(seconds) for seconds, name in _CALL.findall(output)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each import test")
    parser.add_argument("--celery", action="store_true", help="also time the Celery tests")
    options = parser.parse_args()
    import_tests(options.rounds)
    if options.celery:
        celery_tests()


if __name__ == "__main__":
    main()
