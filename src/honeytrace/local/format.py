"""How trace values read as text: durations, times, one-line previews, the session table and
the event tree of ``honeytrace sessions`` / ``show``.

Shared by the ``honeytrace`` command and the collector's viewer, so that neither imports the other.
Trace data is anybody's text: control characters and terminal escape sequences in it are shown
escaped (``\\x1b``), never sent to the terminal, where they could recolour, retitle or rewrite it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

__all__ = [
    "Style",
    "format_duration",
    "format_time",
    "one_line",
    "printable",
    "safe_json",
    "session_rows",
    "tree_lines",
]

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
    text = " ".join(printable(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


# C0 and C1 controls but tab and newlines (one_line folds those), DEL, and the bidirectional
# overrides and isolates that can make a line read differently from what it holds.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters and escape sequences shown as ``\\x1b``-style escapes."""
    return _UNSAFE.sub(_escape, text)


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_json(value: Any, indent: int | None = None) -> str:
    """JSON text of ``value`` that is also safe on a terminal: ``json`` escapes the C0 controls
    itself; DEL, the C1 controls and the bidi overrides, which it leaves raw, become ``\\u``
    escapes too (the same JSON value: they can only occur inside strings)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# -- the command line's views ---------------------------------------------------------------


class Style:
    """ANSI colour, only for a terminal and only when ``NO_COLOR`` is unset."""

    BOLD, DIM, RED, CYAN = "1", "2", "31", "36"

    def __init__(self, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


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


def session_rows(sessions: list[dict[str, Any]]) -> list[str]:
    """The table of ``honeytrace sessions``: a header, then one aligned line per session."""
    rows = [("NAME", "SESSION", "START", "DURATION", "EVENTS", "ERRORS", "TOKENS", "COST")]
    for session in sessions:
        tokens = session.get("tokens")
        rows.append(
            (
                one_line(session["name"] or "unknown", 40),
                printable(str(session["session_id"])[:8]),
                format_time(session["start_time"]),
                format_duration(session["duration"]),
                str(session["events"]),
                str(session["errors"]),
                "-" if tokens is None else f"{int(tokens):,}",
                format_cost(session.get("cost")),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column >= 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _summary(tree: dict[str, Any], style: Callable[[str, str], str]) -> str:
    totals = tree["totals"]
    errors = _count(totals["errors"], "error")
    parts = [
        printable(str(tree["session_id"])),
        format_time(tree["start_time"]),
        _count(totals["events"], "event"),
        style(errors, Style.RED) if totals["errors"] else errors,
    ]
    parts.extend(format_usage(totals))
    return " · ".join(parts)


def tree_lines(root: dict[str, Any], style: Callable[[str, str], str]) -> list[str]:
    """The session's line and its summary, then each event under box-drawing branches, with
    its inputs and outputs on the lines below it. Iterative: traces can nest deeper than
    recursion allows."""
    lines: list[str] = []
    # (event, prefix of its own line, prefix of the lines under it)
    stack: list[tuple[dict[str, Any], str, str]] = [(root, "", "")]
    while stack:
        event, branch, below = stack.pop()
        head = (
            f"{branch}{style(one_line(event['event_type'], 40), Style.CYAN)} "
            f"{style(one_line(event['event_name'] or 'unknown'), Style.BOLD)}"
            f"  {format_duration(event['duration'])}"
        )
        if event["error"]:
            head += "  " + style("✗ " + one_line(event["error"]), Style.RED)
        lines.append(head)
        children = event["children"]
        detail = below + ("│  " if children else "   ")
        if event is root:
            lines.append(detail + style(_summary(root, style), Style.DIM))
        for label, key in (("in ", "inputs"), ("out", "outputs")):
            if event[key]:
                lines.append(detail + style(f"{label} {one_line(event[key])}", Style.DIM))
        for index in reversed(range(len(children))):
            last = index == len(children) - 1
            twig, trunk = ("└─ ", "   ") if last else ("├─ ", "│  ")
            stack.append((children[index], below + twig, below + trunk))
    return lines
