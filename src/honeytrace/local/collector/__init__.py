"""The local HoneyHive-compatible collector: an ASGI app over the embedded SQLite store.

``honeytrace serve`` runs it, so that any HoneyHive client (honeytrace with ``HH_API_URL`` set,
another SDK, curl) can send traces to this machine, and a person can browse them at ``/``.
It needs the ``collector`` extra (starlette and uvicorn)::

    from honeytrace.local.collector import create_app, serve
    app = create_app(".honeytrace/traces.db", api_key=None)   # any ASGI server
    serve(".honeytrace/traces.db", port=8787)                 # or uvicorn, until Ctrl-C
"""

from __future__ import annotations

from honeytrace.local.collector.app import create_app
from honeytrace.local.collector.server import serve

__all__ = ["create_app", "serve"]
