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

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsletter.config import Settings, get_settings
from newsletter.dispatch.embedded import EmbeddedWorker
from newsletter.web import auth, errors, health, pages, public, webhooks
from newsletter.web.api import router as api_router
from newsletter.web.console import router as console_router
from newsletter.web.deps import make_templates
from newsletter.web.security import RateLimiter, SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Ten subscribe (or link) requests per client address per ten minutes: plenty
# for a person or an office behind one address, too few to flood inboxes.
SUBSCRIBE_LIMIT = (10, 600.0)
# Ten sign-in attempts per address per five minutes slows password guessing.
LOGIN_LIMIT = (10, 300.0)
API_DESCRIPTION = """REST API of the newsletter service: everything the organiser console does.

Authenticate with `Authorization: Bearer <token>`; create a token with
`newsletter users token EMAIL`.  Times are ISO 8601; naive times are UK local time.
"""


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

    app = FastAPI(
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
    app.state.subscribe_limiter = RateLimiter(*SUBSCRIBE_LIMIT)
    app.state.login_limiter = RateLimiter(*LOGIN_LIMIT)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.base_url.startswith("https://"))
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
