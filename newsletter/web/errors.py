"""Errors the web app answers with a page of its own, and the handlers that render them.

HTML routes answer in HTML, ``/api/v1`` routes in JSON (FastAPI's
``{"detail": …}`` shape), so a browser never sees raw JSON and a script
never has to parse a page.  Domain errors map to HTTP here and only here
(docs/architecture.md, "Errors"): ``NotFound`` is 404, ``Conflict`` 409, any
other ``UserError`` 422, with the error's ``to_json()`` as the API's
``detail``; a mail server's refusal (``TransportError``) is 502; anything
else is a bug, answered 500 with a request id that is also logged with the
traceback.  Routes raise domain errors and never turn them into
``HTTPException`` themselves.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.errors import Conflict, NotFound, UserError
from newsletter.transports import TransportError
from newsletter.web.deps import LoginRequired, page

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

_LINK_WORDS = {
    "confirm": "confirmation",
    "preferences": "preferences",
    "unsubscribe": "unsubscribe",
}


class BadLink(UserError):  # noqa: N818 (reads as what the visitor has)
    """A tampered, expired or orphaned email link: answered 400 with a page that says which."""

    def __init__(
        self, purpose: str, *, expired: bool, gone: bool = False, used: bool = False
    ) -> None:
        super().__init__(purpose)
        self.purpose = purpose
        self.expired = expired
        self.gone = gone
        self.used = used


class TooManyRequests(UserError):  # noqa: N818
    """A client went over a rate limit; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


@contextmanager
def named_in_body() -> Iterator[None]:
    """Within the block, a ``NotFound`` is bad input (422), not a missing resource (404).

    404 says the URL names nothing; an id or name in a request body that
    names nothing (``POST /sends`` with an unknown update) is a mistake in
    the body, like any other invalid field.
    """
    try:
        yield
    except NotFound as exc:
        raise UserError(str(exc)) from exc


async def _bad_link(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadLink)
    what = _LINK_WORDS.get(exc.purpose, exc.purpose)
    if exc.gone:
        message = "This link belongs to a subscription that no longer exists."
    elif exc.used:
        message = (
            f"This {what} link has already been used, or the subscription changed since it "
            "was sent. To subscribe again, use the subscribe form for a fresh link."
        )
    elif exc.expired:
        message = f"This {what} link has expired. Ask for a fresh one below."
    else:
        message = (
            f"This {what} link is not valid: it may have been cut short or changed "
            "when it was copied. Use the link from the email itself, or ask for a new one."
        )
    context = {"title": "This link does not work", "message": message, "offer_link": True}
    return page(request, "message.html", context, status_code=400)


async def _too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    seconds = str(max(1, math.ceil(exc.retry_after)))
    if _is_api(request):
        return JSONResponse(
            {"detail": "too many requests"}, status_code=429, headers={"Retry-After": seconds}
        )
    context = {
        "title": "Too many requests",
        "message": f"Please wait {seconds} seconds and try again.",
    }
    response = page(request, "message.html", context, status_code=429)
    response.headers["Retry-After"] = seconds
    return response


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)
    context = {"title": "Please sign in", "message": "Your session has ended. Sign in again."}
    return page(request, "message.html", context, status_code=401)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
    context = {"title": titles.get(exc.status_code, "Something went wrong"), "message": exc.detail}
    response = page(request, "message.html", context, status_code=exc.status_code)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_api(request):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
    context = {"title": "Something is missing", "message": "The form was incomplete or invalid."}
    return page(request, "message.html", context, status_code=422)


# Status and page title of each kind of user error; the first that matches wins.
_USER_ERRORS: tuple[tuple[type[UserError], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (Conflict, 409, "This cannot be done now"),
    (UserError, 422, "Something is not right"),
)


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    status, title = next((s, t) for kind, s, t in _USER_ERRORS if isinstance(exc, kind))
    if _is_api(request):
        return JSONResponse({"detail": exc.to_json()}, status_code=status)
    return page(request, "message.html", {"title": title, "message": str(exc)}, status_code=status)


async def _transport_error(request: Request, exc: Exception) -> Response:
    """The mail server refused a message sent while the request waited (a test copy): 502."""
    assert isinstance(exc, TransportError)
    message = f"the transport refused the message: {exc}"
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=502)
    context = {"title": "The mail server refused the message", "message": message}
    return page(request, "message.html", context, status_code=502)


async def _bug(request: Request, exc: Exception) -> Response:
    """A 500 that names a request id; the same id is logged with the traceback."""
    request_id = uuid.uuid4().hex[:12]
    log.error(
        "request %s: %s %s failed", request_id, request.method, request.url.path, exc_info=exc
    )
    message = f"Something went wrong on our side (request id {request_id})."
    headers = {"X-Request-ID": request_id}
    if _is_api(request):
        body = {"detail": "internal server error", "request_id": request_id}
        return JSONResponse(body, status_code=500, headers=headers)
    try:
        context = {"title": "Something went wrong", "message": message}
        response = page(request, "message.html", context, status_code=500)
    except Exception:  # the page itself failed: plain text still carries the id
        return Response(message, status_code=500, media_type="text/plain", headers=headers)
    response.headers.update(headers)
    return response


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(BadLink, _bad_link)
    app.add_exception_handler(TooManyRequests, _too_many)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(TransportError, _transport_error)
    app.add_exception_handler(Exception, _bug)
