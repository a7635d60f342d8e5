"""The trace viewer ``honeytrace serve`` shows at ``/``: static HTML, CSS and ES modules
(``static/``, shipped in the wheel, nothing fetched from elsewhere) over JSON read routes.

- :mod:`.pages`: the HTML shell, the login form, the security headers;
- :mod:`.api`: the ``/api/...`` JSON routes (queries in :mod:`honeytrace.local.viewer_query`).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from honeytrace.local.collector.viewer import api, pages
from honeytrace.local.collector.viewer.pages import SecurityHeaders

__all__ = ["SecurityHeaders", "routes"]


def routes() -> list[BaseRoute]:
    """Every route of the viewer: its JSON API and its pages."""
    return [*api.routes(), *pages.routes()]
