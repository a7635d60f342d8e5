"""The ``honeytrace`` command: list ``sessions``, ``show`` one session's event tree, ``export``
events as JSON Lines or OTLP/JSON, ``reprice`` the stored model events, ``serve`` the collector.

The readers take ``--db``, else ``$HONEYTRACE_LOCAL_PATH``, else the nearest
``.honeytrace/traces.db`` in the current directory or above it (:mod:`.paths`). They read the
store directly and import nothing of the tracing side, so they work on any store, whatever the
state of the SDK. Exit codes: 0 done, 1 nothing to show or a store that cannot be read, 2 a bad
argument (one line on stderr, nothing else printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn, TextIO

from honeytrace._version import __version__
from honeytrace.local.format import (
    Style,
    format_duration,
    one_line,
    safe_json,
    session_rows,
    tree_lines,
)
from honeytrace.local.paths import DEFAULT_STORE, ENV_VAR, StoreNotFound, find_store, why_unusable
from honeytrace.local.store import Store, StoreBusyError

__all__ = ["default_db_path", "format_duration", "main", "one_line"]


class CliError(Exception):
    """A clear one-line failure: printed to stderr, no traceback, exit code ``code``."""

    code = 1


class UsageError(CliError):
    """A bad argument, found before anything was printed: exit code 2."""

    code = 2


def default_db_path() -> str:
    """Where ``serve`` stores: ``$HONEYTRACE_LOCAL_PATH``, else ``.honeytrace/traces.db``."""
    return os.environ.get(ENV_VAR, "").strip() or DEFAULT_STORE


# -- readers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _reading(args: argparse.Namespace) -> Iterator[Store]:
    """The store the readers look at (see :func:`honeytrace.local.paths.find_store`)."""
    try:
        args.db = find_store(args.db)
    except StoreNotFound as exc:
        raise CliError(str(exc)) from None
    try:
        store = Store(args.db)
    except StoreBusyError as exc:
        raise CliError(f"{args.db} is busy, try again: {exc}") from None
    except (OSError, sqlite3.DatabaseError) as exc:
        why = why_unusable(args.db, exc)
        raise CliError(f"cannot read {args.db} as a honeytrace store: {why}") from None
    with store:
        yield store


def _no_traces(db: str) -> CliError:
    return CliError(f"no traces yet in {db} — run a traced program first")


def cmd_sessions(args: argparse.Namespace, out: TextIO) -> int:
    """Print the newest sessions as a table, or as a JSON list."""
    with _reading(args) as store:
        # SQLite reads a negative LIMIT as none: --limit 0 lists every session.
        sessions = store.list_sessions(args.limit or -1)
    if args.json:
        out.write(safe_json(sessions, indent=2) + "\n")
        return 0
    if not sessions:
        raise _no_traces(args.db)
    for line in session_rows(sessions):
        out.write(line + "\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Print one session's event tree, or the whole tree as JSON."""
    with _reading(args) as store:
        session_id = _resolve(store, args.session, args.db)
        tree = store.session_tree(session_id)
    if tree is None:  # removed between the two reads: cannot happen with this store
        raise CliError(f"no session {session_id} in {args.db}")
    if args.json:
        out.write(safe_json(tree, indent=2) + "\n")
        return 0
    for line in tree_lines(tree, Style(out)):
        out.write(line + "\n")
    return 0


def _resolve(store: Store, wanted: str, db: str) -> str:
    if wanted == "latest":
        latest = store.latest_session_id()
        if latest is None:
            raise _no_traces(db)
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


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Write the events of the sessions since ``--since`` as JSON Lines or OTLP/JSON."""
    from honeytrace.local import export

    try:
        since = None if args.since is None else export.parse_since(args.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    write = export.write_jsonl if args.format == "jsonl" else export.write_otlp_json
    with _reading(args) as store, _output(args.output, out) as target:
        count = write(store.iter_sessions_events(since), target)
    if args.output not in (None, "-"):
        sys.stderr.write(f"honeytrace: exported {count} events to {args.output}\n")
    return 0


@contextlib.contextmanager
def _output(path: str | None, out: TextIO) -> Iterator[TextIO]:
    if path in (None, "-"):
        if hasattr(out, "reconfigure"):
            out.reconfigure(encoding="utf-8")  # the JSON's text as it is, whatever the locale
        yield out
        return
    assert path is not None
    try:
        target = open(path, "w", encoding="utf-8")  # noqa: SIM115 -- closed below
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    with target:
        yield target


# -- serve --------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Check the store and claim the address, then run the collector until Ctrl-C or SIGTERM.
    Nothing is printed before both succeeded."""
    try:
        from honeytrace.local.collector import serve
        from honeytrace.local.collector.server import ListenError, is_loopback, listen
    except ImportError as exc:
        raise UsageError(
            f"honeytrace serve needs starlette and uvicorn ({exc.name} is missing): "
            'install honeytrace[collector], e.g. pip install "honeytrace[collector]"'
        ) from None
    try:
        Store(args.db).close()  # created when absent, as the collector will
    except StoreBusyError as exc:
        raise UsageError(f"{args.db} is busy, try again: {exc}") from None
    except (OSError, sqlite3.DatabaseError) as exc:
        why = why_unusable(args.db, exc)
        raise UsageError(f"cannot use {args.db} as the collector's store (--db): {why}") from None
    try:
        sockets = listen(args.host, args.port)
    except ListenError as exc:
        raise UsageError(str(exc)) from None
    port = sockets[0].getsockname()[1]
    if not args.api_key and not all(is_loopback(sock) for sock in sockets):
        sys.stderr.write(
            f"honeytrace: warning: serving on {args.host} without --api-key: anyone who can "
            "reach this machine can read and write its traces (set --api-key or "
            "HONEYTRACE_COLLECTOR_API_KEY)\n"
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    out.write(f"honeytrace collector on http://{shown}:{port}, storing into {args.db}\n")
    out.write(f"trace viewer: open http://{shown}:{port}/ in a browser\n")
    out.flush()
    serve(
        args.db,
        host=args.host,
        port=port,
        api_key=args.api_key,
        sockets=sockets,
        allowed_hosts=args.allow_host,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        workers=args.workers,
    )
    return 0


def cmd_reprice(args: argparse.Namespace, out: TextIO) -> int:
    """Price the stored model events again with the installed price table (and ``--prices``)."""
    from honeytrace._config import ConfigError, resolve
    from honeytrace._deliver.pricing import Pricer, table_version
    from honeytrace.local.export import parse_since

    try:
        prices = resolve({"prices": args.prices}).prices if args.prices else None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    pricer = Pricer(prices)
    with _reading(args) as store:
        rewritten, unpriced = store.reprice(lambda event: pricer.price(event, again=True), since)
    table = table_version() or "no genai-prices (install honeytrace[cost])"
    noun = "model event" if rewritten == 1 else "model events"
    out.write(f"repriced {rewritten} {noun} with {table}")
    out.write(f"{' and your table' if prices else ''}; {unpriced} unpriced\n")
    return 0


# -- arguments ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a number between 0 and 65535 (0: any free port), not {text!r}"
        )
    return port


def _limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, not {text!r}")
    return limit


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="honeytrace", description="Look at the traces honeytrace recorded, or collect them."
    )
    parser.add_argument("--version", action="version", version=f"honeytrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    read_help = (
        f"the store (default: ${ENV_VAR}, else the nearest {DEFAULT_STORE} "
        "in this directory or above)"
    )

    sessions = commands.add_parser("sessions", help="list the newest sessions")
    sessions.add_argument("--db", help=read_help)
    sessions.add_argument("--limit", type=_limit, default=20, help="how many (default 20, 0: all)")
    sessions.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    sessions.set_defaults(run=cmd_sessions)

    show = commands.add_parser("show", help="print a session's event tree")
    show.add_argument(
        "session", nargs="?", default="latest", help="a session id, its prefix, or latest"
    )
    show.add_argument("--db", help=read_help)
    show.add_argument("--json", action="store_true", help="the whole tree, every field, as JSON")
    show.set_defaults(run=cmd_show)

    export = commands.add_parser("export", help="write events as JSON Lines or OTLP/JSON")
    export.add_argument("--db", help=read_help)
    export.add_argument(
        "--since",
        metavar="WHEN",
        help="only sessions started since WHEN: an ISO date/time or a time ago (30m, 1h, 2d)",
    )
    export.add_argument("--format", choices=("jsonl", "otlp-json"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    export.set_defaults(run=cmd_export)

    reprice = commands.add_parser(
        "reprice", help="price the stored model events again with the installed price table"
    )
    reprice.add_argument("--db", help=read_help)
    reprice.add_argument(
        "--since", metavar="WHEN", help="only events since WHEN: an ISO date/time or 30m, 1h, 2d"
    )
    reprice.add_argument(
        "--prices", help="a JSON price table of your own (as configure(prices=...)), which wins"
    )
    reprice.set_defaults(run=cmd_reprice)

    serve = commands.add_parser("serve", help="serve the HoneyHive-compatible collector")
    serve.add_argument(
        "--db",
        default=default_db_path(),
        help=f"the store, created if absent (default: ${ENV_VAR} or {DEFAULT_STORE})",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8787)
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
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="processes serving the port (default: one per core, at most 4, on Linux; else 1)",
    )
    serve.set_defaults(run=cmd_serve)
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
    except CliError as exc:
        sys.stderr.write(f"honeytrace: {exc}\n")
        return exc.code
    except StoreBusyError as exc:
        sys.stderr.write(f"honeytrace: {exc}\n")
        return 1
    except BrokenPipeError:
        # `honeytrace show | head`: the reader is gone, which is no error of ours. Point stdout
        # at devnull so that the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code
