"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the views' models.

The document is built in `app.api.schemas.document` from spectree's description of every view
decorated with `app.api.schemas.endpoint.endpoint`; tests keep it true (every API route is
described, the document validates against OpenAPI 3.1, live answers match their schemas).
"""

from __future__ import annotations

from typing import Any

from app.api import bp
from app.api.schemas.document import openapi_document
from app.api.schemas.endpoint import endpoint
from app.api.schemas.lines import OpenApiDocument
from app.api.schemas.stops import NoQuery

__all__ = ["openapi_document", "openapi_json"]


@bp.get("/openapi.json")
@endpoint("getOpenapi", "meta", ok=OpenApiDocument)
def openapi_json(query: NoQuery) -> dict[str, Any]:
    """This document

    The OpenAPI 3.1 description of /api/v1.
    """
    return openapi_document()
