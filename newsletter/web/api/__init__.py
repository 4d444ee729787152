"""REST API under ``/api/v1``: everything the console does, for scripts.

Every route depends on :func:`~newsletter.web.deps.require_api_organiser`
(``Authorization: Bearer <token>``); there are no cookies, hence no CSRF.
The OpenAPI document is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from newsletter.web.api import audience, content, events, sending
from newsletter.web.deps import require_api_organiser

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_organiser)])
for area in (content, events, audience, sending):
    router.include_router(area.router)

__all__ = ["router"]
