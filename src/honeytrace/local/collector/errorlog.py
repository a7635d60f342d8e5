"""Every answer of 400 or more logged on the collector's console (method, path, status, the
error's message), so that a user sees why a client fails without reading the client's logs:
``honeytrace.collector: POST /v1/events -> 400: invalid body: event_type: field required``.

:class:`ErrorLog` is the app's outermost middleware, so it sees the bearer check's 401s too;
500s are logged by the app's handler for unexpected exceptions (with their traceback).
"""

from __future__ import annotations

import json
import logging
import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorLog", "log_to_console", "logger"]

logger = logging.getLogger("honeytrace.collector")
_KEPT = 2048  # bytes of an error body read for its message


class ErrorLog:
    """ASGI middleware: logs each answer with a status of 400 or more, once its body is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                if len(body) < _KEPT:
                    body.extend(message.get("body", b"")[: _KEPT - len(body)])
                if not message.get("more_body", False):
                    logger.warning(
                        "%s %s -> %d: %s",
                        scope.get("method", "?"),
                        scope.get("path", "?"),
                        status,
                        message_of(bytes(body)),
                    )
            await send(message)

        await self.app(scope, receive, watch)


def message_of(body: bytes) -> str:
    """The error's message: the ``message`` of a JSON error body (the API's and OTLP's), else
    the body's printable text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    status = _rpc_status_message(body)
    if status is not None:
        return status
    text = body.decode("utf-8", "replace")
    printable = "".join(char for char in text if char.isprintable())
    return printable[:300] or "(no body)"


def _rpc_status_message(body: bytes) -> str | None:
    """The message of a protobuf ``google.rpc.Status`` as the OTLP route writes it (field 1
    the code, field 2 the message), or None for anything else."""
    if len(body) < 4 or body[0] != 0x08 or body[2] != 0x12:
        return None
    length, shift, index = 0, 0, 3
    while index < len(body):
        byte = body[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
    text = body[index : index + length]
    return text.decode("utf-8", "replace") if len(text) == length else None


def log_to_console() -> None:
    """Print the collector's log lines on stderr (``honeytrace serve`` calls this once)."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("honeytrace serve: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
