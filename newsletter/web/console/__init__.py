"""The organiser console: every route here requires a signed-in organiser.

The router-level dependency :func:`~newsletter.web.deps.require_organiser`
guards every page; state-changing routes add
:func:`~newsletter.web.deps.verify_csrf`.  Pages are split by area.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from newsletter.web.console import events, home, segments, sends, subscribers, updates, users
from newsletter.web.deps import require_organiser

router = APIRouter(
    prefix="/console", dependencies=[Depends(require_organiser)], include_in_schema=False
)
# The dashboard sits at the prefix itself ("/console"), which an included router cannot add.
router.add_api_route("", home.dashboard, methods=["GET"], response_class=HTMLResponse)
for area in (home, updates, events, subscribers, segments, sends, users):
    router.include_router(area.router)

__all__ = ["router"]
