"""The viewer's pages: the one HTML shell every page address serves (the ES modules under
``static/`` draw the page from the JSON routes), the login form and its post, and the headers
that keep a page from running anything but our own scripts."""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from honeytrace.local.collector._http import SESSION_COOKIE, cookie_token

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeaders", "routes"]

STATIC = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # No referrer leaves for other sites; same-origin requests keep theirs. (With no-referrer
    # a browser sends `Origin: null` on the login form's POST, which the guard must refuse as a
    # cross-site write.)
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
_MAX_LOGIN_BODY = 8192


class SecurityHeaders:
    """ASGI middleware: every answer (pages, JSON, errors) gets the Content-Security-Policy
    (only our own scripts, styles and API; no inline script, nothing external),
    ``X-Content-Type-Options: nosniff`` and no referrer to other sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in _HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def shell(request: Request) -> Response:
    """Every page of the viewer (``/``, ``/sessions/{id}``, ``/compare``): one HTML shell."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def login_page(request: Request) -> Response:
    """``GET /login``: the form that takes the API key (straight on to ``/`` without one)."""
    if not request.app.state.api_key:
        return RedirectResponse("/", status_code=303)
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-cache"})


async def login(request: Request) -> Response:
    """``POST /login`` (form field ``key``): the right key sets the login cookie and goes to
    ``/``; a wrong one goes back to the form, marked failed."""
    api_key: str | None = request.app.state.api_key
    if not api_key:
        return RedirectResponse("/", status_code=303)
    body = await request.body()
    fields = parse_qs(body[:_MAX_LOGIN_BODY].decode("utf-8", "replace"))
    given = (fields.get("key") or [""])[0].strip()
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/", status_code=303)
    # No Secure flag: the viewer is served over plain HTTP on 127.0.0.1, where a browser would
    # refuse to send it back; HttpOnly keeps it from scripts, SameSite=Strict from other sites.
    response.set_cookie(
        SESSION_COOKIE, cookie_token(api_key), httponly=True, samesite="strict", path="/"
    )
    return response


async def logout(request: Request) -> Response:
    """``POST /logout``: forget the login cookie."""
    response = RedirectResponse("/login" if request.app.state.api_key else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", path="/")
    return response


def routes() -> list[BaseRoute]:
    """The page routes and the static files."""
    return [
        Route("/", shell, methods=["GET"]),
        Route("/sessions/{session_id}", shell, methods=["GET"]),
        Route("/compare", shell, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
