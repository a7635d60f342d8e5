"""Where the trace store is, and what is wrong with a path that cannot hold one.

The readers (``honeytrace sessions / show / export``) take ``--db``, else
``$HONEYTRACE_LOCAL_PATH``, else the first ``.honeytrace/traces.db`` found in the current
directory or one above it, the way git finds ``.git``: a program traced at the root of a project
can be read from any of its subdirectories. The SDK and ``honeytrace serve`` write to
``.honeytrace/traces.db`` of the current directory (or the path given); they do not search.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["DEFAULT_STORE", "ENV_VAR", "StoreNotFound", "find_store", "why_unusable"]

DEFAULT_STORE = os.path.join(".honeytrace", "traces.db")
ENV_VAR = "HONEYTRACE_LOCAL_PATH"


class StoreNotFound(Exception):
    """No store where one was looked for; the message says where, and how to point at one."""


def find_store(
    db: str | None, environ: Mapping[str, str] | None = None, cwd: str | None = None
) -> str:
    """The store to read: ``db`` (``--db``), else ``$HONEYTRACE_LOCAL_PATH``, else the nearest
    ``.honeytrace/traces.db`` from ``cwd`` upwards. Raises :class:`StoreNotFound`."""
    env = os.environ if environ is None else environ
    if db:
        if os.path.exists(db):
            return db
        raise StoreNotFound(f"no trace store at {db} (given by --db); check the path")
    from_env = env.get(ENV_VAR, "").strip()
    if from_env:
        if os.path.exists(from_env):
            return from_env
        raise StoreNotFound(
            f"no trace store at {from_env} (from {ENV_VAR}); run a traced program first, "
            f"or point at another store with --db PATH"
        )
    start = os.path.abspath(cwd or os.getcwd())
    directory = start
    while True:
        candidate = os.path.join(directory, DEFAULT_STORE)
        if os.path.isfile(candidate):
            return DEFAULT_STORE if directory == start and cwd is None else candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    raise StoreNotFound(
        f"no trace store found: looked for {DEFAULT_STORE} in {start} and every directory "
        f"above it; run a traced program first, or point at a store with --db PATH or {ENV_VAR}"
    )


def why_unusable(path: str, exc: BaseException) -> str:
    """What is wrong with ``path`` as a store, in words, from the exception that opening or
    writing it raised (an ``OSError`` or a ``sqlite3.DatabaseError``)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return "it is a directory"
    ancestor = os.path.dirname(path)  # the nearest existing one: a file there blocks mkdir
    while not os.path.exists(ancestor) and os.path.dirname(ancestor) != ancestor:
        ancestor = os.path.dirname(ancestor)
    if os.path.exists(ancestor) and not os.path.isdir(ancestor):
        return f"{ancestor} is a file, not a directory"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc)
    if "not a database" in text:
        return "it is not a SQLite database (a corrupt file, or another kind of file)"
    if "readonly" in text or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return "the file is read-only"
    if "unable to open" in text:
        return "the file cannot be created or opened (is its directory writable?)"
    return text
