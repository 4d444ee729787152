"""GET /healthz: the container health check (docker-compose) and load balancers.

It answers 200 only when the store answers a trivial query, so a web
container that lost its database is marked unhealthy; it reveals nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import get_engine

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    """200 ``{"status": "ok"}`` when the store answers, else 503."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "store unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
