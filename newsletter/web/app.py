"""The FastAPI application: public pages, the organiser console and the REST API.

``create_app`` assembles routers, error pages, security headers and static
files.  With no ``BROKER_URL`` the embedded worker runs in this process
(started by the lifespan, stopped on shutdown) so that scheduled sends go
out without any other server; tests pass ``start_worker=False`` and drive
the queue themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from newsletter.config import Settings, get_settings, secret_problem
from newsletter.dispatch.embedded import EmbeddedWorker
from newsletter.errors import UserError
from newsletter.throttles import throttle
from newsletter.web import auth, errors, health, pages, public, webhooks
from newsletter.web.api import router as api_router
from newsletter.web.console import router as console_router
from newsletter.web.deps import make_templates
from newsletter.web.security import FORM_OVERHEAD, SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Ten subscribe (or link) requests per client address per ten minutes: plenty
# for a person or an office behind one address.  Each recipient has its own
# cooldown and daily cap besides (``newsletter.subscription_mail``).
SUBSCRIBE_LIMIT = (10, 600.0)
# Failed sign-ins only: ten per account per fifteen minutes slows guessing one
# password to a crawl; fifty per client address bounds spraying many accounts
# from one place without locking out an office of organisers behind one NAT.
LOGIN_ACCOUNT_LIMIT = (10, 900.0)
LOGIN_ADDRESS_LIMIT = (50, 900.0)
API_DESCRIPTION = """REST API of the newsletter service: everything the organiser console does.

Authenticate with `Authorization: Bearer <token>`; create a token with
`newsletter users token EMAIL`.  Times are ISO 8601; naive times are UK local time.
"""


class NewsletterApp(FastAPI):
    """FastAPI with the security headers outside everything, error pages included."""

    hsts: bool = False
    max_body: int | None = None

    def build_middleware_stack(self) -> ASGIApp:
        # Starlette's error middleware is the outermost layer of the usual stack,
        # so headers added by ordinary middleware never reach a 500 page.
        return SecurityHeadersMiddleware(
            super().build_middleware_stack(), hsts=self.hsts, max_body=self.max_body
        )


def _is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1", "testserver")


def create_app(
    settings: Settings | None = None,
    *,
    start_worker: bool | None = None,
    worker_interval: float = 5.0,
) -> FastAPI:
    """Build the web app.

    ``settings`` defaults to :func:`get_settings`.  ``start_worker`` None runs
    the embedded worker when ``settings.broker_url`` is unset (Celery workers
    do the job otherwise); True or False forces it.  ``worker_interval`` is
    the embedded worker's polling period in seconds.
    """
    settings = settings or get_settings()
    problem = secret_problem(settings)
    # A local development app may run with a weak key; anything reachable from
    # elsewhere would hand out links that anyone can forge.
    if problem is not None and not _is_loopback(settings.base_url):
        raise UserError(f"refusing to serve {settings.base_url}: {problem}")
    run_worker = settings.broker_url is None if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = EmbeddedWorker(interval=worker_interval) if run_worker else None
        if worker is not None:
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
                worker.join(timeout=30)

    app = NewsletterApp(
        title="Newsletter API",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = make_templates()
    app.state.subscribe_limiter = throttle(
        "subscribe-address", *SUBSCRIBE_LIMIT, settings=settings, shared=False
    )
    app.state.login_account_limiter = throttle(
        "login-account", *LOGIN_ACCOUNT_LIMIT, settings=settings, shared=False
    )
    app.state.login_address_limiter = throttle(
        "login-address", *LOGIN_ADDRESS_LIMIT, settings=settings, shared=False
    )
    app.hsts = settings.base_url.startswith("https://")
    app.max_body = settings.max_upload_bytes + FORM_OVERHEAD
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(public.router)
    app.include_router(pages.router)
    app.include_router(auth.router)
    app.include_router(console_router)
    app.include_router(api_router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    return app
