"""An app traced with HoneyHive's own Python SDK (PyPI ``honeyhive``), pointed at a local
collector: ``python honeyhive_python_app.py <server_url> <session_name>``. Run in a subprocess
by tests/test_otlp_honeyhive.py (the SDK sets process-wide OpenTelemetry state). Nested sync
and async calls, a caught error, ``enrich_span`` and ``enrich_session``; prints the session id.
"""

from __future__ import annotations

import asyncio
import sys

from honeyhive import HoneyHiveTracer, enrich_span, trace

server_url, session_name = sys.argv[1], sys.argv[2]
tracer = HoneyHiveTracer.init(
    api_key="hh-local-key", server_url=server_url, session_name=session_name, source="tests"
)


@trace(event_type="tool")
def add(a: int, b: int) -> int:
    enrich_span(metadata={"step": "add"}, metrics={"score": 0.5}, feedback={"liked": True})
    return a + b


@trace(event_type="tool")
def fail(reason: str) -> None:
    raise ValueError(reason)


@trace(event_type="model", event_name="answer")
async def answer(question: str) -> dict[str, str]:
    await asyncio.sleep(0.001)
    return {"content": "42: " + question}


@trace(event_type="chain", event_name="pipeline")
async def pipeline(x: int) -> dict[str, object]:
    try:
        fail("boom")
    except ValueError:
        pass
    total = add(x, 2)
    said = await answer("why?")
    return {"sum": total, "said": said["content"]}


print(asyncio.run(pipeline(1)))
tracer.enrich_session(metadata={"user": "u-1"}, feedback={"rating": 5}, outputs={"final": "done"})
if not tracer.force_flush():
    sys.exit("flush failed")
print("SESSION", tracer.session_id)
