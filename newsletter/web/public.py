"""Subscriber pages: subscribe (double opt-in), confirm, preferences and unsubscribe.

Pages reached from an email link are authenticated by the signed token in
their path (``newsletter.tokens``), never by a cookie: they work in any
browser, and the token itself defeats cross-site request forgery, so only
the cookie-based subscribe and link-request forms carry CSRF tokens.
GETs never change anything: mail scanners prefetch links (RFC 8058 §1).
Whether an address is subscribed is never revealed: every valid subscribe or
link request queues the same task and gets the same answer in the same time
(``newsletter.subscription_mail`` decides whether to send, off the request).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from newsletter.dispatch.queue import get_queue
from newsletter.models import Subscriber, SubscriberRole
from newsletter.roles import BUILTIN_ROLES, RoleError, normalise_role
from newsletter.subscribers import (
    SubscriberError,
    SubscriberInput,
    check_text,
    set_status,
)
from newsletter.suppressions import is_suppressed
from newsletter.tokens import (
    CONFIRM,
    PREFERENCES,
    UNSUBSCRIBE,
    TokenError,
    TokenExpired,
    TokenPayload,
    preferences_url,
    read_token,
    status_stamp,
)
from newsletter.web.deps import client_address, page, settings_of, store, verify_csrf
from newsletter.web.errors import BadLink, TooManyRequests

router = APIRouter(include_in_schema=False)
ROLE_CHOICES = list(BUILTIN_ROLES.items())


def _subject(request: Request, token: str, purpose: str) -> int:
    """The subscriber id the token names; raises BadLink for a tampered or expired token."""
    return _payload(request, token, purpose).subject_id


def _payload(request: Request, token: str, purpose: str) -> TokenPayload:
    """The verified token (current or previous keys); raises BadLink otherwise."""
    try:
        return read_token(token, purpose, secret=settings_of(request).verification_keys)
    except TokenExpired as exc:
        raise BadLink(purpose, expired=True) from exc
    except TokenError as exc:  # tampered, another key, another purpose, malformed
        raise BadLink(purpose, expired=False) from exc


def _limit(request: Request, limiter_name: str) -> None:
    retry = getattr(request.app.state, limiter_name).hit(client_address(request))
    if retry is not None:
        raise TooManyRequests(retry)


def _suppressed(db: Session, email_key: str) -> bool:
    return bool(is_suppressed(db, [email_key]))


@router.get("/", response_class=HTMLResponse)
@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> Response:
    """The subscribe form."""
    return page(request, "subscribe.html", {"roles": ROLE_CHOICES, "values": {}})


@router.post("/subscribe", dependencies=[Depends(verify_csrf)])
def subscribe(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    organisation: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """Start double opt-in: queue the task that stores a pending subscriber and emails the link.

    Rate-limited per client address; the task applies the recipient's
    cooldown and daily cap.  Every valid request queues the same task and
    gets the same answer, so the form cannot be used to probe the list.
    Existing profiles are never changed from this unauthenticated form
    (anyone can type anyone's address): people change them on the
    preferences page.
    """
    _limit(request, "subscribe_limiter")
    values = {"email": email, "name": name, "organisation": organisation, "role": role}
    try:
        wanted = SubscriberInput.build(
            email, name=name, organisation=organisation, roles=[role] if role else []
        )
    except SubscriberError as exc:
        context = {"roles": ROLE_CHOICES, "values": values, "error": exc.reason, "field": exc.field}
        return page(request, "subscribe.html", context, status_code=400)
    get_queue().enqueue(
        "request_confirmation",
        wanted.email,
        wanted.name,
        wanted.organisation,
        wanted.roles[0] if wanted.roles else "",
    )
    return RedirectResponse("/subscribe/check-your-email", status_code=303)


@router.get("/subscribe/check-your-email", response_class=HTMLResponse)
def subscribe_sent(request: Request) -> Response:
    """Where the subscribe form leads: the same answer whatever the address."""
    return page(
        request,
        "message.html",
        {
            "title": "Check your email",
            "message": "If this address can receive our updates, a confirmation link is on its "
            "way. Open it within 48 hours to start your subscription.",
        },
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_form(request: Request, token: str) -> Response:
    """A Confirm button; the link alone changes nothing (scanners open links)."""
    _subject(request, token, CONFIRM)
    return page(request, "confirm.html", {"token": token})


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> Response:
    """Make the subscriber active and record their consent with the client's address.

    The link works once, and only while the subscriber's status is the one it
    was issued for: after confirming, unsubscribing, bouncing or complaining
    it is void, so an old link can never bring back someone who left.
    """
    payload = _payload(request, token, CONFIRM)
    with store(request) as db:
        subscriber = db.get(Subscriber, payload.subject_id)
        if subscriber is None:
            raise BadLink(CONFIRM, expired=False, gone=True)
        current = payload.extra == status_stamp(subscriber.status_changed_at)
        if not current or subscriber.status not in ("pending", "unsubscribed"):
            raise BadLink(CONFIRM, expired=False, used=True)
        if _suppressed(db, subscriber.email_key):
            raise BadLink(CONFIRM, expired=False, used=True)
        set_status(
            subscriber,
            "active",
            source="confirmation link",
            consent_source="web form, double opt-in",
            consent_ip=client_address(request),
        )
        prefs = _preferences_link(request, subscriber.id)
    return page(request, "confirmed.html", {"preferences_url": prefs})


def _preferences_link(request: Request, subscriber_id: int) -> str:
    return preferences_url(subscriber_id, settings=settings_of(request))


def _load(db: Session, subscriber_id: int, purpose: str) -> Subscriber:
    subscriber = db.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise BadLink(purpose, expired=False, gone=True)
    return subscriber


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences(request: Request, token: str, saved: str | None = None) -> Response:
    """The subscriber's roles, organisation, reminders and subscription status."""
    subscriber_id = _subject(request, token, PREFERENCES)
    with store(request) as db:
        subscriber = _load(db, subscriber_id, PREFERENCES)
        return _preferences_page(request, db, token, subscriber, saved=saved)


def _preferences_page(
    request: Request,
    db: Session,
    token: str,
    subscriber: Subscriber,
    *,
    saved: str | None = None,
    error: str | None = None,
) -> Response:
    roles = dict(ROLE_CHOICES)
    for slug in subscriber.role_names:
        roles.setdefault(slug, slug.replace("-", " ").capitalize())
    context = {
        "token": token,
        "subscriber": subscriber,
        "roles": list(roles.items()),
        "mine": set(subscriber.role_names),
        "saved": saved,
        "suppressed": _suppressed(db, subscriber.email_key),
        "error": error,
    }
    return page(request, "preferences.html", context, status_code=400 if error else 200)


@router.post("/preferences/{token}")
def save_preferences(
    request: Request,
    token: str,
    action: Annotated[str, Form()] = "save",
    organisation: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    reminders: Annotated[str | None, Form()] = None,
) -> Response:
    """Save the form (``action=save``), or unsubscribe / subscribe again; then show the page."""
    subscriber_id = _subject(request, token, PREFERENCES)
    with store(request) as db:
        subscriber = _load(db, subscriber_id, PREFERENCES)
        if action == "unsubscribe":
            if subscriber.status in ("active", "pending"):
                set_status(subscriber, "unsubscribed", source="preferences page")
            outcome = "unsubscribed"
        elif action == "resubscribe" and _suppressed(db, subscriber.email_key):
            # Mail to the address bounced, it was reported as spam, or an organiser
            # suppressed it: only an organiser lifts that, never a link in an old email.
            outcome = "blocked"
        elif action == "resubscribe":
            # The token reached their mailbox: that proves the address, as a confirmation does.
            if subscriber.status != "active":
                set_status(
                    subscriber,
                    "active",
                    source="preferences page",
                    consent_source="preferences page",
                    consent_ip=client_address(request),
                )
            outcome = "resubscribed"
        else:
            try:
                checked = check_text("organisation", organisation)
                slugs = sorted({normalise_role(r) for r in roles or [] if r.strip()})
            except (SubscriberError, RoleError) as exc:  # nothing changed: the form again, with why
                return _preferences_page(request, db, token, subscriber, error=str(exc))
            if slugs != subscriber.role_names:
                subscriber.roles = [SubscriberRole(role=slug) for slug in slugs]
            subscriber.organisation = checked
            subscriber.reminders_enabled = reminders is not None
            outcome = "saved"
    return RedirectResponse(f"/preferences/{token}?saved={outcome}", status_code=303)


@router.get("/preferences", response_class=HTMLResponse)
@router.get("/unsubscribe", response_class=HTMLResponse)
def link_request_form(request: Request) -> Response:
    """Where the neutral links of the web archive lead: ask for a fresh preferences link."""
    return page(request, "link_request.html", {})


@router.post("/preferences", dependencies=[Depends(verify_csrf)])
def link_request(request: Request, email: Annotated[str, Form()] = "") -> Response:
    """Queue the task that emails a preferences link if the address is on the list.

    Same task, same answer, same time whether or not it is; the task applies
    the recipient's cooldown and daily cap.
    """
    _limit(request, "subscribe_limiter")
    try:
        wanted = SubscriberInput.build(email)
    except SubscriberError as exc:
        return page(request, "link_request.html", {"error": exc.reason}, status_code=400)
    get_queue().enqueue("request_preferences_link", wanted.email)
    return page(
        request,
        "message.html",
        {
            "title": "Check your email",
            "message": "If this address is on our list, a link to your preferences is on its way.",
        },
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, token: str) -> Response:
    """A button that unsubscribes; the GET itself never does (link scanners prefetch)."""
    _subject(request, token, UNSUBSCRIBE)
    return page(request, "unsubscribe.html", {"token": token, "done": False})


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click target: no cookie or CSRF token needed, 200 without redirect, idempotent.

    Mail clients POST ``List-Unsubscribe=One-Click``; the confirmation button
    posts the same.  A bounced or complained status is kept (it says more).
    """
    payload = _payload(request, token, UNSUBSCRIBE)
    with store(request) as db:
        subscriber = db.get(Subscriber, payload.subject_id)
        if subscriber is not None and subscriber.status in ("active", "pending"):
            set_status(subscriber, "unsubscribed", source="unsubscribe link", send_id=payload.extra)
        known = subscriber is not None
    return page(request, "unsubscribe.html", {"token": token, "done": True, "known": known})
