"""The viewer's JSON read routes (``GET /api/...``), documented in the README:

- ``/api/sessions``: a page of sessions with the count of all matches (filters and sorts of
  :func:`honeytrace.local.viewer_query.list_sessions`);
- ``/api/facets``: sources, models and event types, for the filters;
- ``/api/sessions/{id}``: the session's header, totals and compact event tree;
- ``/api/events/{id}``: one event's every field (big object fields deferred);
- ``/api/events/{id}/fields/{field}``: one object field, whole;
- ``/api/compare?a=&b=``: two sessions aligned.

The list and the session answer carry an ``ETag`` that changes whenever the store does, so the
page's polling costs a ``304`` and one pragma while nothing new arrived.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from honeytrace.local import viewer_query
from honeytrace.local.collector._http import ApiError, require_uuid, store_of

__all__ = ["routes"]

_NO_STORE = {"Cache-Control": "no-cache"}


async def _conditional(request: Request) -> tuple[Response | None, str]:
    """A 304 when the client's ETag still holds, else None and the ETag of the answer."""
    state = await store_of(request).read(viewer_query.state_token)
    digest = hashlib.sha1(
        f"{state}|{request.url.path}|{request.url.query}".encode(), usedforsecurity=False
    ).hexdigest()[:20]
    etag = f'W/"{digest}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, **_NO_STORE}), etag
    return None, etag


async def sessions(request: Request) -> Response:
    """``GET /api/sessions``: ``{"sessions", "total", "limit", "offset"}``."""
    unchanged, etag = await _conditional(request)
    if unchanged is not None:
        return unchanged
    try:
        page = await store_of(request).read(viewer_query.list_sessions, dict(request.query_params))
    except ValueError as exc:
        raise ApiError(400, f"invalid query: {exc}", "VALIDATION_ERROR") from None
    return JSONResponse(page, headers={"ETag": etag, **_NO_STORE})


async def facets(request: Request) -> Response:
    """``GET /api/facets``: ``{"sources", "models", "types"}``."""
    return JSONResponse(await store_of(request).read(viewer_query.facets), headers=_NO_STORE)


async def session(request: Request) -> Response:
    """``GET /api/sessions/{session_id}``: ``{"session", "totals", "columns", "events"}``."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    unchanged, etag = await _conditional(request)
    if unchanged is not None:
        return unchanged
    view = await store_of(request).read(viewer_query.session_view, session_id)
    if view is None:
        raise ApiError(404, f"no session with session_id {session_id}", "NOT_FOUND")
    return JSONResponse(view, headers={"ETag": etag, **_NO_STORE})


async def event(request: Request) -> Response:
    """``GET /api/events/{event_id}``: the event, with ``deferred`` naming fields left out."""
    event_id = require_uuid(request.path_params["event_id"], "event_id")
    detail = await store_of(request).read(viewer_query.event_detail, event_id)
    if detail is None:
        raise ApiError(404, f"no event with event_id {event_id}", "NOT_FOUND")
    return JSONResponse(detail, headers=_NO_STORE)


async def event_field(request: Request) -> Response:
    """``GET /api/events/{event_id}/fields/{field}``: the field's JSON, whole."""
    event_id = require_uuid(request.path_params["event_id"], "event_id")
    field = request.path_params["field"]
    try:
        text = await store_of(request).read(viewer_query.event_field, event_id, field)
    except ValueError as exc:
        raise ApiError(400, str(exc), "VALIDATION_ERROR") from None
    if text is None:
        raise ApiError(404, f"no event with event_id {event_id}", "NOT_FOUND")
    return Response(text, media_type="application/json", headers=_NO_STORE)


async def compare(request: Request) -> Response:
    """``GET /api/compare?a=<session_id>&b=<session_id>``: ``{"a", "b", "rows"}``."""
    first = require_uuid(request.query_params.get("a", ""), "a")
    second = require_uuid(request.query_params.get("b", ""), "b")
    result = await store_of(request).read(viewer_query.compare_sessions, first, second)
    if result is None:
        raise ApiError(404, "no session with one of these ids", "NOT_FOUND")
    return JSONResponse(result, headers=_NO_STORE)


def routes() -> list[Route]:
    """The JSON read routes."""
    return [
        Route("/api/sessions", sessions, methods=["GET"]),
        Route("/api/facets", facets, methods=["GET"]),
        Route("/api/sessions/{session_id}", session, methods=["GET"]),
        Route("/api/events/{event_id}", event, methods=["GET"]),
        Route("/api/events/{event_id}/fields/{field}", event_field, methods=["GET"]),
        Route("/api/compare", compare, methods=["GET"]),
    ]
