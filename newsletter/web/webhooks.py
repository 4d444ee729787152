"""POST /webhooks/bounces: bounces and complaints pushed by a mail server or provider.

A mail server's pipe (``curl --data-binary @- -H 'Content-Type: message/rfc822'``)
or a forwarding service posts the raw DSN or ARF message.  The caller proves
itself with ``Authorization: Bearer <NEWSLETTER_BOUNCE_WEBHOOK_SECRET>``,
compared in constant time; with no secret configured the route answers 404
as if it did not exist.  No cookies, no CSRF: machines call it.  Whatever the
body, the answer is 200 with what the intake did (garbled reports are kept
aside, never suppress anyone), so a sender does not retry forever.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from newsletter.bounces.sources import handle_webhook
from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.web.security import read_limited

router = APIRouter()

# One bounce report is a few KB; a message with its original attached rarely
# exceeds a few hundred.  Larger bodies are refused before they are read whole.
MAX_BODY = 2 * 1024 * 1024


def _authorised(request: Request, settings: Settings) -> bool:
    secret = settings.bounce_webhook_secret
    if not secret:
        raise HTTPException(status_code=404, detail="Not Found")
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8"), secret.encode("utf-8")
    )


@router.post("/webhooks/bounces", include_in_schema=False)
async def bounce_webhook(request: Request) -> dict[str, Any]:
    """Ingest one posted bounce or complaint; 401 without the right bearer secret, 413 if too big.

    The database work runs in a worker thread, off the event loop.
    """
    settings: Settings = request.app.state.settings
    if not _authorised(request, settings):
        raise HTTPException(
            status_code=401, detail="bearer secret required",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    # Streamed: a chunked body is refused at the first chunk past the limit.
    body = await read_limited(request, MAX_BODY)
    content_type = request.headers.get("content-type", "message/rfc822")

    def ingest() -> dict[str, Any]:
        with session_scope() as session:
            return asdict(handle_webhook(session, body, content_type))

    return await run_in_threadpool(ingest)
