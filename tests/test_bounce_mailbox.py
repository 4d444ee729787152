"""poll_mailbox against a real Dovecot (IMAP and POP3) on 127.0.0.1, on SQLite and PostgreSQL.

The fixture starts Debian's ``dovecot`` in the foreground with its own
configuration (free loopback ports, a passwd-file user, Maildir storage, no
TLS) and stops it at the end of each test.  Mail is delivered the way an MTA's
local delivery agent does it: a file written into the user's ``Maildir/tmp``
and renamed into ``Maildir/new`` (``mailbox.Maildir.add``), with LF line ends.

Dovecot refuses mail access as root ("Mail access not allowed for root") and
its auth and mail processes drop to unprivileged users, who cannot enter
pytest's 0700 temp folders.  So when the tests run as root the mailbox belongs
to ``nobody`` and the whole instance (configuration, passwd-file, sockets,
state, log, mail) lives in a private folder of the system temp dir, removed at
the end, with the log copied into tmp_path; otherwise it is all in tmp_path.
"""

from __future__ import annotations

import imaplib
import mailbox
import os
import poplib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from bounce_messages import add_subscriber, dsn, send_to
from smtp_server import free_port
from sqlalchemy import Engine, select

from newsletter.bounces.models import BounceEvent, BounceSetAside
from newsletter.bounces.sources import poll_mailbox
from newsletter.config import get_settings, reset_settings
from newsletter.db import session_scope
from newsletter.models import Subscriber, Suppression

PASSWORD = "s3cret p@ss/w0rd?"  # characters that must be percent-encoded in the URL
DOVECOT = "/usr/sbin/dovecot"


@dataclass
class DovecotServer:
    """A running Dovecot (one per test: a fresh server, a fresh mailbox)."""

    imap_port: int
    pop3_port: int
    base: Path
    uid: int  # owner of every mailbox: never root, Dovecot refuses that
    gid: int

    @property
    def log(self) -> Path:
        return self.base / "dovecot.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def add_user(self, name: str) -> Mailbox:
        """A passwd-file user with an empty Maildir; add users before starting Dovecot."""
        home = self.base / "home" / name
        home.mkdir()
        box = Mailbox(self, f"{name}@newsletter.example.org", home)
        box.maildir()
        with (self.base / "passwd").open("a", encoding="utf-8") as passwd:
            passwd.write(f"{box.user}:{{PLAIN}}{PASSWORD}:{self.uid}:{self.gid}::{home}::\n")
        return box


@dataclass
class Mailbox:
    """One user's mailbox on the server, as the bounce poller sees it."""

    server: DovecotServer
    user: str
    home: Path

    def url(self, protocol: str, folder: str = "", password: str = PASSWORD) -> str:
        port = self.server.imap_port if protocol == "imap" else self.server.pop3_port
        user, secret = quote(self.user, safe=""), quote(password, safe="")
        return f"{protocol}://{user}:{secret}@127.0.0.1:{port}/{folder}"

    def maildir(self, folder: str = "INBOX") -> mailbox.Maildir:
        """The user's Maildir++ folder, created (and owned by the mail user) if missing."""
        path = self.home / "Maildir"
        if folder != "INBOX":
            path = path / f".{folder}"
        box = mailbox.Maildir(path, factory=None, create=True)
        self._chown()
        return box

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver as a local delivery agent does: tmp/ then new/, LF line ends."""
        self.maildir(folder).add(raw.replace(b"\r\n", b"\n"))
        self._chown()

    def stored(self, folder: str = "INBOX") -> list[bytes]:
        """The messages Dovecot still keeps (new/ and cur/), read from disk."""
        box = self.maildir(folder)
        return [box.get_bytes(key) for key in box.iterkeys()]

    def _chown(self) -> None:
        if os.geteuid() != 0:
            return
        uid, gid = self.server.uid, self.server.gid
        os.chown(self.home, uid, gid)
        for root, dirs, files in os.walk(self.home):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), uid, gid)


def _config(
    base: Path, imap_port: int, pop3_port: int, passwd: Path, internal: str, login: str
) -> str:
    version = subprocess.run(
        [DOVECOT, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    common = f"""
protocols = imap pop3
listen = 127.0.0.1
base_dir = {base / "run"}
state_dir = {base / "state"}
log_path = {base / "dovecot.log"}
ssl = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""
    if version.startswith("2.3"):
        return f"""{common}
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
"""
    # Dovecot 2.4 (Debian trixie) renamed these settings and needs the version header first.
    return f"""dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {passwd}
}}
userdb passwd-file {{
  passwd_file_path = {passwd}
}}
"""


def _greets(port: int, greeting: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(100).startswith(greeting)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Mailbox]:
    """A mailbox on a Dovecot serving IMAP and POP3 on free 127.0.0.1 ports.

    One server per test: a shared one would carry state between tests (its
    anvil service delays logins from an address after failed ones).
    """
    logs = tmp_path / "dovecot"
    logs.mkdir()
    if os.geteuid() == 0:
        # Dovecot never accesses mail as root, and its auth and mail processes drop to
        # unprivileged users, who cannot enter pytest's 0700 temp folders: run in a
        # private folder of the system temp dir instead, removed at the end (its log is
        # copied to pytest's).  "dovecot" and "dovenull" come with the Debian package.
        owner, internal, login = pwd.getpwnam("nobody"), "dovecot", "dovenull"
        base = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
        base.chmod(0o755)
    else:
        me = pwd.getpwuid(os.geteuid())
        owner, internal, login = me, me.pw_name, me.pw_name
        base = logs
    process: subprocess.Popen[bytes] | None = None
    try:
        for name in ("run", "state", "home"):
            (base / name).mkdir()
        passwd = base / "passwd"
        passwd.touch()
        imap_port, pop3_port = free_port(), free_port()
        conf = base / "dovecot.conf"
        conf.write_text(_config(base, imap_port, pop3_port, passwd, internal, login), "utf-8")
        server = DovecotServer(imap_port, pop3_port, base, owner.pw_uid, owner.pw_gid)
        box = server.add_user("bounces")  # before start: Dovecot loads the passwd-file then
        process = subprocess.Popen(
            [DOVECOT, "-c", str(conf), "-F"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while not (_greets(imap_port, b"* OK") and _greets(pop3_port, b"+OK")):
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                pytest.fail(f"dovecot exited: {stderr}\n{server.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"dovecot did not answer on 127.0.0.1\n{server.log_text()}")
            time.sleep(0.05)
        yield box
    finally:
        if process is not None:
            _stop(process)
            if process.stderr is not None:
                process.stderr.close()
        if base != logs:
            if (base / "dovecot.log").exists():
                shutil.copy(base / "dovecot.log", logs / "dovecot.log")
            shutil.rmtree(base, ignore_errors=True)


def _poll(url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """poll_mailbox as beat runs it: the URL comes from NEWSLETTER_BOUNCE_MAILBOX_URL."""
    monkeypatch.setenv("NEWSLETTER_BOUNCE_MAILBOX_URL", url)
    reset_settings()
    assert get_settings().bounce_mailbox_url == url
    return sorted(r.outcome for r in poll_mailbox(engine=engine))


# A report cut off in transit, and binary junk with one 10 kB line (no line break at
# all): POP3 clients that cap line length choke on the latter.
TRUNCATED = (
    b"From: MAILER-DAEMON@mx.recipient.example\r\nSubject: Undelivered Mail\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n"
)
JUNK = b"Subject: \xff\xfe junk\r\n\r\n" + bytes(range(14, 256)) * 42 + b"\r\n"


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_poll_ingests_deletes_and_keeps_garbage_aside(
    dovecot: Mailbox, engine: Engine, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        jane = add_subscriber(session, "Jane@Council.example")
        john = add_subscriber(session, "john@council.example")
        delivery, sent = send_to(session, jane)
        send_to(session, john)
        jane_id, john_id = jane.id, john.id
        delivery_id, send_id = delivery.id, delivery.send_id
    bounce = dsn(sent, recipient="jane@council.example", returned="message")
    # The remote MTA retried and bounced twice: recorded once.
    for raw in (bounce, TRUNCATED, bounce, JUNK):
        dovecot.deliver(raw)
    assert len(dovecot.stored()) == 4

    url = dovecot.url(protocol)
    monkeypatch.setenv("NEWSLETTER_BOUNCE_MAILBOX_URL", url)
    reset_settings()
    results = poll_mailbox(engine=engine)
    assert sorted(r.outcome for r in results) == ["duplicate", "hard", "set-aside", "set-aside"]
    hard = next(r for r in results if r.outcome == "hard")
    assert (hard.delivery_id, hard.send_id, hard.subscriber_id) == (delivery_id, send_id, jane_id)
    assert hard.status == "5.1.1" and hard.suppressed
    reasons = [r.reason for r in results if r.outcome == "set-aside"]
    assert "malformed delivery status notification" in reasons and all(reasons)
    assert not any(r.suppressed for r in results if r is not hard)

    with session_scope(engine) as session:
        rows = session.execute(select(Subscriber.id, Subscriber.status))
        statuses = {subscriber_id: status for subscriber_id, status in rows}
        assert statuses == {jane_id: "bounced", john_id: "active"}
        suppressions = {(s.email_key, s.reason) for s in session.scalars(select(Suppression))}
        assert suppressions == {("jane@council.example", "hard-bounce")}
        events = session.scalars(select(BounceEvent)).all()
        assert [(e.kind, e.delivery_id) for e in events] == [("hard", delivery_id)]
        kept = session.scalars(select(BounceSetAside)).all()
        assert len(kept) == 2 and all(row.reason and row.source for row in kept)
        # The whole message is kept aside, so deleting it from the server loses nothing.
        kept_raw = [bytes(row.raw).replace(b"\r\n", b"\n") for row in kept]
        assert TRUNCATED.replace(b"\r\n", b"\n") in kept_raw
        assert any(len(raw) >= len(JUNK) - 10 for raw in kept_raw)
        assert all(row.source.startswith(f"{protocol}:127.0.0.1") for row in kept)

    # Everything was deleted from the server once recorded: a second poll finds nothing.
    assert dovecot.stored() == []
    assert poll_mailbox(engine=engine) == []
    with session_scope(engine) as session:
        assert len(session.scalars(select(BounceSetAside)).all()) == 2


def test_imap_folder_other_than_inbox(
    dovecot: Mailbox, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        jane = add_subscriber(session, "jane@council.example")
        delivery, sent = send_to(session, jane)
        delivery_id = delivery.id
    dovecot.deliver(dsn(sent, recipient=jane.email), folder="Bounces")
    dovecot.deliver(b"Subject: not a bounce\n\nhello\n")  # INBOX is not polled
    assert _poll(dovecot.url("imap", "Bounces"), engine, monkeypatch) == ["hard"]
    with session_scope(engine) as session:
        assert session.scalars(select(BounceEvent.delivery_id)).all() == [delivery_id]
    assert dovecot.stored("Bounces") == []
    assert len(dovecot.stored()) == 1


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_refused_login_raises_and_leaves_mail(
    dovecot: Mailbox, engine: Engine, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot.deliver(b"Subject: not a bounce\n\nhello\n")
    wrong = dovecot.url(protocol, password="wrong")
    with pytest.raises((imaplib.IMAP4.error, poplib.error_proto)):
        _poll(wrong, engine, monkeypatch)
    assert len(dovecot.stored()) == 1
    with session_scope(engine) as session:
        assert session.scalars(select(BounceSetAside)).all() == []


def test_missing_imap_folder_raises(
    dovecot: Mailbox, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(imaplib.IMAP4.error, match="Nowhere"):
        _poll(dovecot.url("imap", "Nowhere"), engine, monkeypatch)


def test_unreachable_server_raises_oserror(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    for protocol in ("imap", "pop3"):
        with pytest.raises(OSError):
            _poll(f"{protocol}://u:p@127.0.0.1:{port}/", engine, monkeypatch)


def test_replies_unsubscribes_and_auto_replies_from_the_mailbox(
    dovecot: Mailbox, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounce mailbox also receives calendar replies, mailto unsubscribes and
    out-of-office answers: each is read over IMAP and handled, then deleted."""
    from datetime import UTC, datetime, timedelta

    from rsvp_messages import (
        apple_reply,
        bare_ics_reply,
        gmail_reply,
        out_of_office,
        outlook_reply,
        unsubscribe_request,
    )

    from newsletter.events import replies
    from newsletter.models import EventRecipient, EventRecord, UpdateRecord
    from newsletter.tokens import mailto_unsubscribe

    start = datetime.now(UTC) + timedelta(days=30)
    with session_scope(engine) as session:
        people = [
            add_subscriber(session, a)
            for a in ("ann@council.example", "bob@council.example", "cy@council.example",
                      "di@council.example", "ed@council.example")
        ]  # fmt: skip
        update = UpdateRecord(title="Update")
        event = EventRecord(uid="evt-1@newsletter.example.org", title="Meeting", start=start)
        update.events = [event]
        session.add(update)
        session.flush()
        for person in people:
            session.add(EventRecipient(event_id=event.id, subscriber_id=person.id))
        event_id, ed_id = event.id, people[4].id
    stamp = datetime.now(UTC).replace(microsecond=0)
    uid = "evt-1@newsletter.example.org"
    mailto = mailto_unsubscribe(ed_id, 7)
    to, _, subject = mailto.removeprefix("mailto:").partition("?subject=")
    for raw in (
        outlook_reply(uid, "Ann@Council.example", "Ann", "ACCEPTED", stamp),
        gmail_reply(uid, "bob@council.example", "Bob", "DECLINED", stamp),
        apple_reply(uid, "cy@council.example", "Cy", "TENTATIVE", stamp),
        bare_ics_reply(uid, "di@council.example", "ACCEPTED", stamp),
        gmail_reply("unknown@elsewhere", "ann@council.example", "Ann", "ACCEPTED", stamp),
        unsubscribe_request("ed@council.example", to, subject.replace("%20", " ")),
        out_of_office("ann@council.example", "Regional update"),
    ):
        dovecot.deliver(raw)
    outcomes = _poll(dovecot.url("imap"), engine, monkeypatch)
    assert outcomes == sorted(["rsvp"] * 4 + ["set-aside", "unsubscribed", "auto-reply"])
    with session_scope(engine) as session:
        counts = replies.counts(replies.attendees(session, event_id))
        assert counts == {"accepted": 2, "tentative": 1, "declined": 1, "no reply": 1}
        assert session.get_one(Subscriber, ed_id).status == "unsubscribed"
        kept = session.scalars(select(BounceSetAside)).all()
        assert [row.reason for row in kept] == ["reply to an unknown event"]
    assert dovecot.stored() == []
