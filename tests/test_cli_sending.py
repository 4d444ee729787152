"""Safe sending on the command line: the review, the question on a terminal, --yes in scripts.

The terminal case runs ``python -m newsletter`` on a real pseudo-terminal,
answering the question as a person would.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.db import session_scope
from newsletter.models import Send
from newsletter.paths import SAMPLES_DIR

runner = CliRunner()
SAMPLE = SAMPLES_DIR / "north-east-2017-04.txt"


def _prepare() -> int:
    for i in range(3):
        assert (
            runner.invoke(app, ["subscribers", "add", f"p{i}@x.org", "--role", "DCS"]).exit_code
            == 0
        )
    stored = runner.invoke(app, ["ingest", str(SAMPLE), "--json"])
    assert stored.exit_code == 0, stored.output
    return int(json.loads(stored.stdout)["id"])


def _sends() -> int:
    with session_scope() as session:
        return int(session.scalar(sql_select(func.count()).select_from(Send)) or 0)


def _on_terminal(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal; answer its question; return (exit code, output)."""
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif process.poll() is not None:
            break
    code = process.wait(timeout=30)
    os.close(leader)
    return code, output.decode("utf-8", "replace")


def test_terminal_asks_and_no_means_nothing_is_sent(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    del database_url
    update_id = _prepare()
    args = ["send", str(update_id), "--segment", "dcs", "--at", "2099-03-01 09:00"]
    code, output = _on_terminal(args, "n", tmp_path)
    assert code == 1, output
    assert "Sun 1 Mar 2099, 09:00 UK" in output and "[y/N]" in output
    assert "3 recipients" in output
    assert _sends() == 0
    code, output = _on_terminal(args, "y", tmp_path)
    assert code == 0, output
    assert _sends() == 1 and "Scheduled for Sun 1 Mar 2099, 09:00 UK" in output


def test_send_now_and_reschedule_from_the_cli(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    from newsletter.config import reset_settings

    reset_settings()
    update_id = _prepare()
    dry = runner.invoke(app, ["send", str(update_id), "--segment", "dcs", "--dry-run", "--json"])
    assert json.loads(dry.stdout)["total"] == 3 and _sends() == 0
    later = runner.invoke(
        app, ["send", str(update_id), "--segment", "dcs", "--at", "2099-01-01 09:00", "--yes"]
    )
    send_id = later.stdout.splitlines()[0]
    moved = runner.invoke(app, ["sends", "reschedule", send_id, "--at", "2099-02-01 10:00"])
    assert moved.exit_code == 2 and "--yes" in moved.stderr
    moved = runner.invoke(
        app, ["sends", "reschedule", send_id, "--at", "2099-02-01 10:00", "--yes"]
    )
    assert moved.exit_code == 0 and "Sun 1 Feb 2099, 10:00 UK" in moved.stdout
    past = runner.invoke(app, ["sends", "reschedule", send_id, "--at", "2001-01-01 10:00", "--yes"])
    assert past.exit_code == 2 and "has already passed" in past.stderr
    now = runner.invoke(app, ["sends", "send-now", send_id, "--yes"])
    assert now.exit_code == 0, now.output
    assert f"Send {send_id} is finished: planned 3, sent 3" in now.stdout
    again = runner.invoke(app, ["sends", "send-now", send_id, "--yes"])
    assert again.exit_code == 2 and "only a scheduled send" in again.stderr
    tests = runner.invoke(
        app, ["send", str(update_id), "--segment", "dcs", "--test-to", "a@x.org, b@x.org"]
    )
    assert tests.exit_code == 0 and tests.stdout.count("Test copy (dcs edition) sent to") == 2
