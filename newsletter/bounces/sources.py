"""Where bounces come from: files (Maildir, mbox, .eml), a polled mailbox, a webhook.

Every source hands each raw message to :func:`ingest_message`.  File and
mailbox intake commit each message in its own transaction, so one bad
message (kept aside) never loses the others, and a crash half-way leaves the
rest for the next run; since intake is idempotent, re-reading a message that
was already recorded changes nothing.  Mailbox messages are deleted only
after the transaction that recorded them has committed.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import mailbox
import poplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from newsletter.bounces.intake import BounceResult, ingest_message, set_aside
from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.errors import UserError

__all__ = [
    "MailboxURL",
    "handle_webhook",
    "ingest_path",
    "iter_path",
    "parse_mailbox_url",
    "poll_mailbox",
]


# --- files -----------------------------------------------------------------------


class MailboxConfigError(UserError, ValueError):
    """The bounce mailbox setting cannot be used."""


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_dir() for name in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    # An mbox starts with a "From " separator line (RFC 4155); an .eml does not.
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_path(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(source, raw)`` for every message under ``path``.

    ``path`` may be a Maildir (has cur/, new/, tmp/), an mbox file, a single
    message file (.eml or any RFC 5322 file), or a folder of such files
    (sorted by name; hidden files skipped).  Raises FileNotFoundError when
    ``path`` does not exist.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if _is_maildir(path):
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield f"maildir:{path}:{key}", box.get_bytes(key)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name.startswith(".") or not (child.is_file() or _is_maildir(child)):
                continue
            yield from iter_path(child)
    elif _is_mbox(path):
        mbox = mailbox.mbox(path, factory=None, create=False)
        try:
            for index, key in enumerate(mbox.iterkeys()):
                yield f"mbox:{path}:{index}", mbox.get_bytes(key)
        finally:
            mbox.close()
    else:
        yield f"file:{path}", path.read_bytes()


def ingest_path(
    path: Path,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    on_result: Callable[[str, BounceResult], None] | None = None,
) -> list[BounceResult]:
    """Ingest every message under ``path`` (see :func:`iter_path`), one transaction each.

    Files are left in place: intake is idempotent, so reading them again is
    harmless.  ``on_result(source, result)`` is called after each commit.
    """
    results: list[BounceResult] = []
    for source, raw in iter_path(path):
        with session_scope(engine) as session:
            result = ingest_message(session, raw, source=source, settings=settings)
        results.append(result)
        if on_result is not None:
            on_result(source, result)
    return results


# --- a polled mailbox ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxURL:
    """``bounce_mailbox_url`` taken apart."""

    protocol: str  # "imap" or "pop3"
    tls: bool
    host: str
    port: int
    username: str
    password: str
    folder: str


# Seconds a socket operation may take: beat must not hang forever on a server
# that accepted the connection and then stopped answering.
_TIMEOUT = 60.0

_DEFAULT_PORTS = {
    ("imap", False): 143,
    ("imap", True): 993,
    ("pop3", False): 110,
    ("pop3", True): 995,
}


def parse_mailbox_url(url: str) -> MailboxURL:
    """Parse ``imap[s]://user:pass@host[:port][/FOLDER]`` or ``pop3[s]://user:pass@host[:port]``.

    User and password are percent-decoded; the IMAP folder defaults to INBOX.
    Raises ValueError for another scheme or a missing host or user.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    tls = scheme.endswith("s")
    protocol = scheme[:-1] if tls else scheme
    if protocol not in ("imap", "pop3") or not parts.hostname:
        raise MailboxConfigError(
            "bounce mailbox URL must be imap[s]://… or pop3[s]://… with a host"
        )
    if not parts.username:
        raise MailboxConfigError("bounce mailbox URL needs a user name")
    return MailboxURL(
        protocol=protocol,
        tls=tls,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[(protocol, tls)],
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def _ingest_one(
    raw: bytes, source: str, engine: Engine | None, settings: Settings | None
) -> BounceResult:
    with session_scope(engine) as session:
        return ingest_message(session, raw, source=source, settings=settings)


def _poll_imap(box: MailboxURL, engine: Engine | None, s: Settings) -> list[BounceResult]:
    context = ssl.create_default_context()
    client = (
        imaplib.IMAP4_SSL(box.host, box.port, ssl_context=context, timeout=_TIMEOUT)
        if box.tls
        else imaplib.IMAP4(box.host, box.port, timeout=_TIMEOUT)
    )
    results: list[BounceResult] = []
    try:
        if not box.tls and "STARTTLS" in client.capabilities:
            client.starttls(ssl_context=context)
        client.login(box.username, box.password)
        status, detail = client.select(_imap_quote(box.folder))
        if status != "OK":
            # Without this the next command fails with an obscure "illegal in state AUTH".
            raise imaplib.IMAP4.error(f"cannot select folder {box.folder!r}: {detail!r}")
        _, data = client.uid("SEARCH", "ALL")
        uids = data[0].split() if data and data[0] else []
        for uid in uids:
            _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(
                (item[1] for item in fetched if isinstance(item, tuple) and len(item) > 1), None
            )
            if raw is None:
                continue
            source = f"imap:{box.host}/{box.folder}:{uid.decode()}"
            results.append(_ingest_one(raw, source, engine, s))
            # RFC 3501 section 6.4.6: flag for deletion only after the commit above.
            client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
        client.expunge()
        client.close()
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return results


def _imap_quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


_POP3_MAX_LINE = 4_000_000


class _LongLines:
    """poplib refuses response lines over 2048 bytes (a guard against endless
    lines, CVE-2013-1752), but RETR returns the message as stored and real
    bounces and junk carry longer lines (RFC 5322's 998 is often ignored).  One
    such message would stop every poll and never be deleted, so allow lines of
    a few megabytes (the intake keeps messages of up to 2 MB whole).  Mirrors
    ``poplib.POP3._getline``.
    """

    file: BinaryIO

    def _getline(self) -> tuple[bytes, int]:
        line = self.file.readline(_POP3_MAX_LINE + 1)
        if len(line) > _POP3_MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        # readline() stops after LF: the line ends in LF or CRLF, or starts with CR.
        if line.endswith(b"\r\n"):
            return line[:-2], octets
        if line.startswith(b"\r"):
            return line[1:-1], octets
        return line[:-1], octets


class _POP3(_LongLines, poplib.POP3):
    pass


class _POP3_SSL(_LongLines, poplib.POP3_SSL):  # noqa: N801 (named after poplib's class)
    pass


def _poll_pop3(box: MailboxURL, engine: Engine | None, s: Settings) -> list[BounceResult]:
    context = ssl.create_default_context()
    client: poplib.POP3 = (
        _POP3_SSL(box.host, box.port, context=context, timeout=_TIMEOUT)
        if box.tls
        else _POP3(box.host, box.port, timeout=_TIMEOUT)
    )
    results: list[BounceResult] = []
    try:
        # Like IMAP: upgrade to TLS when offered (RFC 2595) before sending the password.
        if not box.tls and "STLS" in _pop3_capabilities(client):
            client.stls(context=context)
        client.user(box.username)
        client.pass_(box.password)
        count, _ = client.stat()
        for number in range(1, count + 1):
            _, lines, _ = client.retr(number)
            raw = b"\r\n".join(lines) + b"\r\n"
            results.append(_ingest_one(raw, f"pop3:{box.host}:{number}", engine, s))
            # RFC 1939: DELE only marks; the server deletes at QUIT (UPDATE state).
            client.dele(number)
    except BaseException:
        # QUIT anyway, so that the messages already committed are deleted; the
        # original error matters more than one from QUIT on a broken connection.
        with contextlib.suppress(poplib.error_proto, OSError):
            client.quit()
        client.close()
        raise
    client.quit()
    return results


def _pop3_capabilities(client: poplib.POP3) -> dict[str, list[str]]:
    try:
        return client.capa()
    except poplib.error_proto:  # CAPA is optional (RFC 2449): no capabilities known
        return {}


def poll_mailbox(
    settings: Settings | None = None, *, engine: Engine | None = None
) -> list[BounceResult]:
    """Fetch, ingest and delete every message in ``bounce_mailbox_url``; [] when unset.

    Meant to run periodically (Celery beat).  Each message is committed before
    it is deleted from the mailbox.  Raises OSError or the protocol library's
    error when the server cannot be reached or refuses the login; messages
    already ingested stay ingested.
    """
    s = settings or get_settings()
    if not s.bounce_mailbox_url:
        return []
    box = parse_mailbox_url(s.bounce_mailbox_url)
    if box.protocol == "imap":
        return _poll_imap(box, engine, s)
    return _poll_pop3(box, engine, s)


# --- webhook -----------------------------------------------------------------------


def handle_webhook(session: Session, body: bytes, content_type: str) -> BounceResult:
    """Ingest a bounce or complaint POSTed by a mail server or provider; the caller commits.

    Accepted bodies:

    * ``message/rfc822`` (or ``text/plain``, ``application/octet-stream``): the
      raw bounce or ARF message, as an MTA pipe or a forwarding service posts it;
    * ``application/json`` ``{"message": "<raw message text>"}``.

    Anything else is kept aside with the reason (never raises for bad input).
    Authenticating the caller is the web layer's job: mount this behind a
    secret URL or signature check.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("message/rfc822", "text/plain", "application/octet-stream"):
        return ingest_message(session, body, source="webhook")
    if kind == "application/json":
        try:
            data: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return set_aside(session, body, "webhook: invalid JSON", str(exc), source="webhook")
        raw = data.get("message") if isinstance(data, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            return set_aside(
                session, body, "webhook: no message", 'expected {"message": "…"}', source="webhook"
            )
        return ingest_message(session, raw.encode("utf-8", "surrogateescape"), source="webhook")
    return set_aside(
        session, body, "webhook: unsupported content type", content_type[:200], source="webhook"
    )
