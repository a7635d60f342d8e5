"""The collector's ASGI app factory: the v1 routes, the legacy routes and the trace viewer,
behind the optional bearer-key check (the viewer's reads also take its login cookie), with every
error answered in the API's JSON shape and every answer carrying the viewer's security headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from honeytrace.local.collector import clients, legacy, otlp, v1, viewer
from honeytrace.local.collector._http import ApiError, BearerAuth, StoreAccess, error_response
from honeytrace.local.collector.errorlog import ErrorLog, logger
from honeytrace.local.collector.guard import DEFAULT_MAX_BODY_BYTES, CollectorGuard
from honeytrace.local.store import StoreBusyError

__all__ = ["create_app"]


# -- errors -------------------------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.error_code)


async def _busy(request: Request, exc: Exception) -> Response:
    # 503 with Retry-After: honeytrace's transport (and most clients) retry it.
    return error_response(503, str(exc), "STORE_BUSY", {"Retry-After": "1"})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return error_response(exc.status_code, str(exc.detail), code, exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error(
        "%s %s -> 500: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
    )
    return error_response(500, f"internal error: {type(exc).__name__}", "INTERNAL_ERROR")


def create_app(
    db_path: str,
    api_key: str | None = None,
    *,
    busy_timeout: float = 5.0,
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    write_lock: str | None = None,
) -> Starlette:
    """The collector as an ASGI app over the store at ``db_path``; with ``api_key`` every
    route but ``/healthz`` and the login page requires ``Authorization: Bearer <api_key>`` (or,
    for reads, the cookie that ``POST /login`` sets). A write that waits more than
    ``busy_timeout`` seconds for another process's lock is answered 503 (retry). Requests must
    name a loopback host or one of ``allowed_hosts``, writes must not come from another site's
    page, bodies are at most ``max_body_bytes`` (see :mod:`.guard`). Processes serving one
    store together name the same ``write_lock`` file: they take turns writing through it
    (see :mod:`.workers`)."""
    access = StoreAccess(db_path, busy_timeout, write_lock=write_lock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(access.open)
        yield
        access.close()

    # The client routes first: none of their literal paths may be read as an id by another.
    routes = [*clients.routes(), *otlp.routes(), *v1.routes(), *legacy.routes(), *viewer.routes()]
    guard = Middleware(CollectorGuard, allowed_hosts=allowed_hosts, max_body_bytes=max_body_bytes)
    # ErrorLog outermost: it logs the guard's and the key check's refusals too.
    middleware = [Middleware(ErrorLog), Middleware(viewer.SecurityHeaders), guard]
    if api_key:
        middleware.append(Middleware(BearerAuth, api_key=api_key))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            StoreBusyError: _busy,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.store = access
    app.state.api_key = api_key
    return app
