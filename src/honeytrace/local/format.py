"""How trace values read as text: durations, times, one-line previews.

Shared by the ``honeytrace`` command and the collector's viewer, so that neither imports the other.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

__all__ = ["format_cost", "format_duration", "format_time", "format_usage", "one_line"]

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


def format_cost(usd: object) -> str:
    """``$1.25``, ``$0.0123``, ``$0.000285``, ``$0.007``: US dollars down to the micro-dollar
    a single small call costs; ``-`` when unknown."""
    if not isinstance(usd, int | float) or isinstance(usd, bool) or not math.isfinite(usd):
        return "-"
    if usd == 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    if usd >= 0.01:
        return f"${usd:.4f}"
    text = f"{usd:.6f}".rstrip("0")
    return f"${usd:.1e}" if text.endswith(".") else "$" + text  # under a micro-dollar


def format_usage(totals: dict[str, Any]) -> list[str]:
    """A session's token and cost totals (``session_totals``) as summary parts:
    ``1,234 tokens``, ``$0.0123``, ``2 unpriced`` (a cost is never shown as complete when a
    model call in it could not be priced)."""
    parts: list[str] = []
    tokens = totals.get("tokens")
    if tokens:
        total = tokens.get("total_tokens", 0)
        parts.append(f"{total:,} token" + ("" if total == 1 else "s"))
    cost = totals.get("cost")
    if cost is not None:
        parts.append(format_cost(cost))
    unpriced = totals.get("unpriced") or 0
    if unpriced:
        parts.append(f"{unpriced} unpriced")
    return parts
