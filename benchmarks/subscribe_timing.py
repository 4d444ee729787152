"""Median response time of the subscribe form for a subscribed and a new address.

    python benchmarks/subscribe_timing.py [--requests N] [--relay-delay SECONDS]

Both kinds of request should take the same time: the form only validates
and queues a task, and the task (not timed here: it runs after the answer)
decides whether to store and send anything.  The mail goes to an SMTP relay
on 127.0.0.1 that waits ``--relay-delay`` seconds per message, as a remote
relay would; before the change the new address paid that delay inside the
request.  Prints both medians side by side and their ratio (1.0 is ideal).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--relay-delay", type=float, default=0.02)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as folder:
        os.environ["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{Path(folder) / 'bench.db'}"
        os.environ["NEWSLETTER_SECRET_KEY"] = "benchmark-secret-key-" + "x" * 24
        os.environ["NEWSLETTER_CONFIRMATION_COOLDOWN_SECONDS"] = "0"
        os.environ["NEWSLETTER_CONFIRMATION_DAILY_CAP"] = "1000000"
        from newsletter.config import reset_settings

        reset_settings()
        from smtp_server import SMTPTestServer

        from newsletter.db import get_engine, session_scope
        from newsletter.dispatch.queue import in_process_queue
        from newsletter.migrate import upgrade_to_head
        from newsletter.subscribers import SubscriberInput, upsert
        from newsletter.web import app as web_app
        from newsletter.web import create_app

        upgrade_to_head(get_engine())
        with session_scope() as session:
            upsert(
                session,
                [SubscriberInput.build("known@example.org", name="Known")],
                default_status="active",
                consent_source="benchmark",
            )
        relay = SMTPTestServer()

        def slow(_recipient: str) -> None:
            time.sleep(args.relay_delay)  # a remote relay's round trips, per message

        relay.rule = slow
        relay.start()
        try:
            os.environ["NEWSLETTER_SMTP_URL"] = relay.url
            reset_settings()
            web_app.SUBSCRIBE_LIMIT = (10**9, 600.0)  # time the form, not the throttle
            app = create_app(start_worker=False)
            timings: dict[str, list[float]] = {"subscribed": [], "new": []}
            with TestClient(app) as client:
                page = client.get("/subscribe").text
                found = re.search(r'name="csrf_token" value="([^"]+)"', page)
                assert found
                token = found.group(1)
                for n in range(args.requests):
                    for kind, email in (
                        ("subscribed", "known@example.org"),
                        ("new", f"n{n}@x.org"),
                    ):
                        started = time.perf_counter()
                        response = client.post(
                            "/subscribe",
                            data={"email": email, "csrf_token": token},
                            follow_redirects=False,
                        )
                        timings[kind].append(time.perf_counter() - started)
                        assert response.status_code == 303, response.text
                    in_process_queue().drain()  # the tasks run between requests, untimed
        finally:
            relay.stop()
        sent = len(relay.messages)
    subscribed = statistics.median(timings["subscribed"]) * 1000
    new = statistics.median(timings["new"]) * 1000
    print(f"requests per kind        {args.requests}")
    print(f"relay delay per message  {args.relay_delay * 1000:.0f} ms ({sent} messages)")
    print(f"median, subscribed       {subscribed:.2f} ms")
    print(f"median, new address      {new:.2f} ms")
    print(f"ratio new / subscribed   {new / subscribed:.2f}")


if __name__ == "__main__":
    main()
