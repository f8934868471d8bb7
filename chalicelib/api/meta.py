"""Health and the OpenAPI document (public)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api import openapi
from chalicelib.api.http import endpoint
from chalicelib.config import settings
from chalicelib.schemas import Response

bp = Blueprint(__name__)


class Health(Response):
    status: str
    stage: str
    time: str


@endpoint(bp, "/health", "GET", public=True, response=Health)
def health() -> Health:
    """Liveness: the function answers and knows its stage."""
    return Health(status="ok", stage=settings.stage, time=clock.iso(clock.now()))


@endpoint(bp, "/v1/openapi.json", "GET", public=True)
def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI 3.1 document."""
    return openapi.document()
