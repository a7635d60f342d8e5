"""OTLP/HTTP trace ingest: ``POST /v1/traces`` (the OTLP default path, what
``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8787`` posts to) and
``POST /opentelemetry/v1/traces`` (HoneyHive's, where its Python and TypeScript tracers send).

As the OTLP/HTTP specification says: bodies are ``application/x-protobuf`` or
``application/json`` (ids in hex), optionally ``Content-Encoding: gzip`` (or ``deflate``); the
answer is an ``ExportTraceServiceResponse`` in the request's content type, with
``partial_success`` (``rejected_spans``, ``error_message``) when some spans were refused; a
malformed body is a 400 carrying a ``google.rpc.Status`` in that content type; a content type
other than these two is a 415. Behind the collector's bearer key like every route.

Decoding, validation and the mapping run in the threadpool (:meth:`StoreAccess.call_prepared`);
the spans of one request are committed in one transaction before the answer.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from honeytrace.local.collector._http import store_of
from honeytrace.local.collector.otlp_spans import (
    Converted,
    OtlpDecodeError,
    SessionLinks,
    convert,
    decode,
)

__all__ = ["routes"]

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
_INVALID_ARGUMENT = 3  # google.rpc.Code
_MAX_INFLATED = 256 << 20  # a gzip body may not inflate beyond this (a zip bomb is a 400)


async def export_traces(request: Request) -> Response:
    """``POST /v1/traces``: store the request's spans as events (see the module doc)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (JSON, PROTOBUF):
        return _status(415, f"unsupported content type {media!r}: send {PROTOBUF} or {JSON}", JSON)
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    links: SessionLinks = _links(request)
    done: list[Converted] = []

    def prepare() -> tuple[Any, ...]:
        message = decode(_inflate(raw, encoding), json_body=media == JSON)
        done.append(convert(message, links))
        return (None, done[0].events, done[0].sessions, done[0].moves)

    try:
        await store_of(request).call_prepared("add_events", prepare)
    except OtlpDecodeError as exc:
        return _status(400, str(exc), media)
    converted = done[0]
    answer = ExportTraceServiceResponse()
    if converted.rejected:
        answer.partial_success.rejected_spans = converted.rejected
        answer.partial_success.error_message = "; ".join(converted.reasons)
    return _message(answer, media)


def _links(request: Request) -> SessionLinks:
    state = request.app.state
    links = getattr(state, "otlp_links", None)
    if links is None:
        links = state.otlp_links = SessionLinks()
    return links


def _inflate(raw: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise OtlpDecodeError(f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    # wbits 47 reads gzip and zlib headers alike; deflate may also come raw (wbits -15).
    for wbits in (47, -15):
        inflater = zlib.decompressobj(wbits)
        try:
            body = inflater.decompress(raw, _MAX_INFLATED)
        except zlib.error:
            continue
        if inflater.unconsumed_tail:
            raise OtlpDecodeError(f"the body inflates beyond {_MAX_INFLATED >> 20} MiB")
        return body
    raise OtlpDecodeError(f"malformed {encoding} body")


def _message(answer: ExportTraceServiceResponse, media: str) -> Response:
    if media == PROTOBUF:
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    body = json_format.MessageToDict(answer)
    return Response(json.dumps(body), media_type=JSON)


def _status(status: int, message: str, media: str) -> Response:
    """OTLP's error answer: a ``google.rpc.Status`` (code, message) in the request's type."""
    if media == PROTOBUF:
        return Response(_status_proto(message), status_code=status, media_type=PROTOBUF)
    body = {"code": _INVALID_ARGUMENT, "message": message}
    return Response(json.dumps(body), status_code=status, media_type=JSON)


def _status_proto(message: str) -> bytes:
    """``google.rpc.Status{code: 3, message}`` in protobuf's wire format: field 1 varint, field
    2 length-delimited (the message type is googleapis', not opentelemetry-proto's)."""
    text = message.encode()
    return bytes([0x08, _INVALID_ARGUMENT, 0x12]) + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def routes() -> list[Route]:
    """The OTLP trace routes."""
    return [
        Route("/v1/traces", export_traces, methods=["POST"]),
        Route("/opentelemetry/v1/traces", export_traces, methods=["POST"]),
    ]
