"""The collector's read-only web viewer: ``GET /`` lists recent sessions, ``GET
/sessions/{session_id}`` shows one session's event tree. Server-rendered HTML, every stored
value escaped, no scripts; the text formatting is the CLI's, so both read the same.
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from honeytrace.local.collector._http import require_uuid, store_of
from honeytrace.local.format import format_duration, format_time, format_usage, one_line

__all__ = ["routes"]

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } .num { text-align: right; }
code, pre { font: 12px ui-monospace, monospace; } pre { margin: .1em 0 .1em 1.5em;
  white-space: pre-wrap; color: #555; } ul { list-style: none; padding-left: 1.2em;
  border-left: 1px solid #ddd; } .type { color: #06c; } .err { color: #c00; }
"""
_SESSIONS_SHOWN = 100


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status)


async def index(request: Request) -> Response:
    """The newest sessions, each linking to its tree."""
    sessions = await store_of(request).call("list_sessions", _SESSIONS_SHOWN)
    rows = "".join(
        "<tr><td><a href='/sessions/{id}'>{name}</a></td><td><code>{short}</code></td>"
        "<td>{start}</td><td class='num'>{duration}</td><td class='num'>{events}</td>"
        "<td class='num{err}'>{errors}</td></tr>".format(
            id=html.escape(session["session_id"], quote=True),
            name=html.escape(session["name"] or "unknown"),
            short=html.escape(session["session_id"][:8]),
            start=html.escape(format_time(session["start_time"])),
            duration=html.escape(format_duration(session["duration"])),
            events=session["events"],
            errors=session["errors"],
            err=" err" if session["errors"] else "",
        )
        for session in sessions
    )
    if not sessions:
        return _page("honeytrace", "<h1>honeytrace</h1><p>No sessions yet.</p>")
    table = (
        "<table><tr><th>session</th><th>id</th><th>start</th><th>duration</th>"
        f"<th>events</th><th>errors</th></tr>{rows}</table>"
    )
    return _page("honeytrace", f"<h1>honeytrace: recent sessions</h1>{table}")


async def session_page(request: Request) -> Response:
    """One session's events, nested as they ran."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    tree = await store_of(request).call("session_tree", session_id)
    if tree is None:
        return _page("not found", "<p>No such session. <a href='/'>All sessions</a></p>", 404)
    totals = tree["totals"]
    summary = ", ".join(
        [
            f"{totals['events']} events",
            f"{totals['errors']} errors",
            *format_usage(totals),  # tokens, cost, and how many model calls are unpriced
            f"{format_duration(totals['duration'])}, started {format_time(tree['start_time'])}",
        ]
    )
    body = (
        f"<p><a href='/'>&larr; all sessions</a></p>"
        f"<h1>{html.escape(tree['event_name'] or 'unknown')}</h1>"
        f"<p><code>{html.escape(session_id)}</code> &middot; {html.escape(summary)}</p>"
        f"<ul>{_render_tree(tree)}</ul>"
    )
    return _page(tree["event_name"] or "session", body)


def _render_tree(root: dict[str, Any]) -> str:
    # Iterative: a trace may nest deeper than Python's recursion limit.
    parts: list[str] = []
    stack: list[dict[str, Any] | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        parts.append(f"<li>{_render_event(item)}")
        stack.append("</li>")
        if item["children"]:
            parts.append("<ul>")
            stack.append("</ul>")
            stack.extend(reversed(item["children"]))
    return "".join(parts)


def _render_event(event: dict[str, Any]) -> str:
    line = (
        f"<span class='type'>{html.escape(event['event_type'])}</span> "
        f"<b>{html.escape(event['event_name'] or 'unknown')}</b> "
        f"{html.escape(format_duration(event['duration']))}"
    )
    if event["error"]:
        line += f" <span class='err'>&#x2717; {html.escape(one_line(event['error'], 200))}</span>"
    for label, key in (("in", "inputs"), ("out", "outputs")):
        if event[key]:
            text = json.dumps(event[key], ensure_ascii=False, indent=1)[:2000]
            line += f"<pre>{label}: {html.escape(text)}</pre>"
    return line


def routes() -> list[Route]:
    """The viewer's routes."""
    return [
        Route("/", index, methods=["GET"]),
        Route("/sessions/{session_id}", session_page, methods=["GET"]),
    ]
