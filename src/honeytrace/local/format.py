"""How trace values read as text: durations, times, one-line previews.

Shared by the ``honeytrace`` command and the collector's viewer, so that neither imports the other.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

__all__ = ["format_duration", "format_time", "one_line"]

_LINE = 80


def format_duration(ms: object) -> str:
    """``0.04 ms``, ``2.5 ms``, ``12 ms``, ``1.23 s``, ``2m 03s``; ``-`` when unknown."""
    if not isinstance(ms, int | float) or isinstance(ms, bool) or math.isnan(ms):
        return "-"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def format_time(ms: object) -> str:
    """Epoch milliseconds as local time, ``2025-01-31 14:05:09``; ``-`` when unknown."""
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "-"


def one_line(value: Any, width: int = _LINE) -> str:
    """Any value as one line of at most ``width`` characters (cut with ``…``); an output of
    ``{"result": x}`` (what a traced function returns) shows as ``x``."""
    if isinstance(value, dict) and list(value) == ["result"]:
        value = value["result"]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
