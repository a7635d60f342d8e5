"""The ``honeytrace`` command: ``serve`` the collector, list ``sessions``, ``show`` one session's
event tree. Also the text formatting (durations, times, one-line values) that the collector's web
viewer shares.

It reads the embedded store directly (``--db``, default ``$HONEYTRACE_LOCAL_PATH`` or
``.honeytrace/traces.db``, as the SDK writes it) and imports nothing of the SDK, so it works on
any store, whatever the state of the tracing side.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from honeytrace._version import __version__
from honeytrace.local.format import format_duration, format_time, one_line
from honeytrace.local.store import Store, StoreBusyError

__all__ = ["default_db_path", "main"]

_DEFAULT_DB = os.path.join(".honeytrace", "traces.db")
_LINE = 80


class CliError(Exception):
    """A clear one-line failure: printed to stderr, exit code 1, no traceback."""


def default_db_path() -> str:
    """``$HONEYTRACE_LOCAL_PATH``, else ``.honeytrace/traces.db`` (relative to the cwd)."""
    return os.environ.get("HONEYTRACE_LOCAL_PATH") or _DEFAULT_DB


class _Style:
    """ANSI colour, only for a terminal and only when ``NO_COLOR`` is unset."""

    def __init__(self, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


_BOLD, _DIM, _RED, _CYAN = "1", "2", "31", "36"


# -- commands -----------------------------------------------------------------------------


def _open_store(path: str) -> Store:
    if not os.path.exists(path):
        raise CliError(f"no traces yet at {path} — run a traced program first")
    try:
        return Store(path)
    except StoreBusyError as exc:
        raise CliError(f"{path} is busy, try again: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise CliError(f"cannot read {path} as a honeytrace store: {exc}") from None


def cmd_sessions(args: argparse.Namespace, out: TextIO) -> int:
    """Print the newest sessions as a table."""
    with _open_store(args.db) as store:
        sessions = store.list_sessions(args.limit)
    if not sessions:
        raise CliError(f"no traces yet at {args.db} — run a traced program first")
    rows = [("NAME", "SESSION", "START", "DURATION", "EVENTS", "ERRORS")]
    for session in sessions:
        rows.append(
            (
                one_line(session["name"] or "unknown", 40),
                session["session_id"][:8],
                format_time(session["start_time"]),
                format_duration(session["duration"]),
                str(session["events"]),
                str(session["errors"]),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if column >= 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print one session's event tree."""
    with _open_store(args.db) as store:
        session_id = _resolve(store, args.session, args.db)
        tree = store.session_tree(session_id)
    if tree is None:  # removed between the two reads: cannot happen with this store
        raise CliError(f"no session {session_id} in {args.db}")
    style = _Style(out)
    for line in _tree_lines(tree, _summary(tree, style), style):
        out.write(line + "\n")
    return 0


def _summary(tree: dict[str, Any], style: _Style) -> str:
    totals = tree["totals"]
    errors = _count(totals["errors"], "error")
    parts = [
        tree["session_id"],
        format_time(tree["start_time"]),
        _count(totals["events"], "event"),
        style(errors, _RED) if totals["errors"] else errors,
    ]
    if totals["tokens"]:
        parts.append(_count(totals["tokens"]["total_tokens"], "token"))
    if totals["cost"] is not None:
        parts.append(f"cost {totals['cost']:g}")
    return " · ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _resolve(store: Store, wanted: str, db: str) -> str:
    if wanted == "latest":
        latest = store.latest_session_id()
        if latest is None:
            raise CliError(f"no traces yet at {db} — run a traced program first")
        return latest
    matches = store.find_session_ids(wanted, limit=5)
    if not matches:
        raise CliError(f"no session {wanted!r} in {db} (see `honeytrace sessions`)")
    exact = [match for match in matches if match.lower() == wanted.lower()]
    if exact:
        return exact[0]
    if len(matches) > 1:
        raise CliError(f"{wanted!r} matches several sessions: {', '.join(matches)}")
    return matches[0]


def _tree_lines(root: dict[str, Any], summary: str, style: _Style) -> list[str]:
    """The session's line and ``summary``, then each event under box-drawing branches, with
    its inputs and outputs on the lines below it. Iterative: traces can nest deeper than
    recursion allows."""
    lines: list[str] = []
    # (event, prefix of its own line, prefix of the lines under it)
    stack: list[tuple[dict[str, Any], str, str]] = [(root, "", "")]
    while stack:
        event, branch, below = stack.pop()
        head = (
            f"{branch}{style(event['event_type'], _CYAN)} "
            f"{style(event['event_name'] or 'unknown', _BOLD)}"
            f"  {format_duration(event['duration'])}"
        )
        if event["error"]:
            head += "  " + style("✗ " + one_line(event["error"]), _RED)
        lines.append(head)
        children = event["children"]
        detail = below + ("│  " if children else "   ")
        if event is root:
            lines.append(detail + style(summary, _DIM))
        for label, key in (("in ", "inputs"), ("out", "outputs")):
            if event[key]:
                lines.append(detail + style(f"{label} {one_line(event[key])}", _DIM))
        for index in reversed(range(len(children))):
            last = index == len(children) - 1
            twig, trunk = ("└─ ", "   ") if last else ("├─ ", "│  ")
            stack.append((children[index], below + twig, below + trunk))
    return lines


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Run the collector until Ctrl-C or SIGTERM."""
    try:
        from honeytrace.local.collector import serve
    except ImportError as exc:
        sys.stderr.write(f"honeytrace serve needs starlette and uvicorn ({exc.name} is missing): ")
        sys.stderr.write(
            'install honeytrace[collector], e.g. pip install "honeytrace[collector]"\n'
        )
        return 2
    out.write(f"honeytrace collector on http://{args.host}:{args.port}, storing into {args.db}\n")
    out.flush()
    serve(
        args.db,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        allowed_hosts=args.allow_host,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
    )
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honeytrace", description="Look at the traces honeytrace recorded, or collect them."
    )
    parser.add_argument("--version", action="version", version=f"honeytrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = "the store (default: $HONEYTRACE_LOCAL_PATH or .honeytrace/traces.db)"

    serve = commands.add_parser("serve", help="serve the HoneyHive-compatible collector")
    serve.add_argument("--db", default=default_db_path(), help=db_help)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--api-key",
        default=os.environ.get("HONEYTRACE_COLLECTOR_API_KEY"),
        help="require this bearer key (default: $HONEYTRACE_COLLECTOR_API_KEY, else none)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header names NAME (repeatable; * for any); "
        "loopback names and --host always work",
    )
    serve.add_argument(
        "--max-body-mb",
        type=_positive_float,
        default=32.0,
        metavar="MB",
        help="largest request body, decoded, in MiB (default 32); larger ones get 413",
    )
    serve.set_defaults(run=cmd_serve)

    sessions = commands.add_parser("sessions", help="list the newest sessions")
    sessions.add_argument("--db", default=default_db_path(), help=db_help)
    sessions.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    sessions.set_defaults(run=cmd_sessions)

    show = commands.add_parser("show", help="print a session's event tree")
    show.add_argument(
        "session", nargs="?", default="latest", help="a session id, its prefix, or latest"
    )
    show.add_argument("--db", default=default_db_path(), help=db_help)
    show.set_defaults(run=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 nothing to show, 2 usage)."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        # Box-drawing characters on a terminal that cannot show them: '?' rather than a crash.
        out.reconfigure(errors="replace")
    try:
        code: int = args.run(args, out)
        out.flush()
    except (CliError, StoreBusyError) as exc:
        sys.stderr.write(f"honeytrace: {exc}\n")
        return 1
    except BrokenPipeError:
        # `honeytrace show | head`: the reader is gone, which is no error of ours. Point stdout
        # at devnull so that the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code
