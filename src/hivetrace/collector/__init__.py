"""The local HoneyHive-compatible collector: an ASGI app over the embedded SQLite store.

``hivetrace serve`` runs it, so that any HoneyHive client (hivetrace with ``HH_API_URL`` set,
another SDK, curl) can send traces to this machine, and a person can browse them at ``/``.
It needs the ``collector`` extra (starlette and uvicorn)::

    from hivetrace.collector import create_app, serve
    app = create_app(".hivetrace/traces.db", api_key=None)   # any ASGI server
    serve(".hivetrace/traces.db", port=8787)                 # or uvicorn, until Ctrl-C
"""

from __future__ import annotations

from hivetrace.collector.app import create_app
from hivetrace.collector.server import serve

__all__ = ["create_app", "serve"]
