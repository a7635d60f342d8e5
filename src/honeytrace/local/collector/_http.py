"""The collector's HTTP plumbing: the API's error answers, strict body parsing with the wire
models, bearer-key (or viewer login cookie) checking, and access to the blocking store from
async handlers.

Every error answer has the API's shape ``{"statusCode", "message", "success": false,
"errorCode"}``; a validation message names each offending field (``events[0].foo: unknown
field``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from honeytrace.local.collector.workers import WriteTurn
from honeytrace.local.collector.writer import Job, Writer
from honeytrace.local.rows import is_uuid
from honeytrace.local.store import Store, StoreBusyError

__all__ = [
    "SESSION_COOKIE",
    "ApiError",
    "BearerAuth",
    "StoreAccess",
    "cookie_token",
    "error_response",
    "fields_of",
    "parse_body",
    "require_uuid",
    "store_of",
    "validate",
]

Model = TypeVar("Model", bound=BaseModel)
Result = TypeVar("Result")

# Where pydantic's location of an error names the member of a union (``start_time.int``)
# rather than a field; those members are folded into their field.
_UNION_MEMBERS = frozenset({"int", "float", "str", "bool", "none"})
_MAX_PROBLEMS = 5


class ApiError(Exception):
    """An answer other than 2xx, raised from a handler and turned into the error body."""

    def __init__(self, status: int, message: str, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def error_response(
    status: int, message: str, error_code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The API's JSON error answer."""
    body = {"statusCode": status, "message": message, "success": False, "errorCode": error_code}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def parse_body(model: type[Model], raw: bytes) -> Model:
    """``raw`` validated as ``model`` in JSON mode (numbers stay numbers, strings never become
    times); :class:`ApiError` 400 on malformed JSON or a body that does not fit."""
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            detail = exc.errors()[0]["msg"]
            raise ApiError(400, f"malformed JSON body: {detail}", "INVALID_JSON") from None
        raise ApiError(400, describe(exc), "VALIDATION_ERROR") from None


def validate(model: type[Model], data: Any, where: str) -> Model:
    """``data`` (already parsed JSON) validated as ``model``; errors are named under ``where``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, describe(exc, where), "VALIDATION_ERROR") from None


def describe(exc: ValidationError, where: str = "") -> str:
    """One line naming every bad field: ``events[0].start_time: must be a number; ...``."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        loc = list(error["loc"])
        while loc and isinstance(loc[-1], str) and _is_union_member(loc[-1]):
            loc.pop()
        path = _path([part for part in where.split(".") if part] + loc) or "body"
        kind = error["type"]
        if path in problems:
            if kind in ("int_type", "float_type"):
                problems[path] = "must be a number (int milliseconds for times)"
            continue
        if kind == "extra_forbidden":
            problems[path] = "unknown field"
        elif kind == "missing":
            problems[path] = "field required"
        else:
            problems[path] = error["msg"]
    shown = [f"{path}: {message}" for path, message in problems.items()][:_MAX_PROBLEMS]
    more = len(problems) - len(shown)
    return "invalid body: " + "; ".join(shown) + (f" (and {more} more)" if more else "")


def _is_union_member(part: str) -> bool:
    return part in _UNION_MEMBERS or "[" in part or "-" in part


def _path(loc: list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def fields_of(model: BaseModel) -> dict[str, Any]:
    """What the client set, known fields only (extras of a lenient model are left out)."""
    known = type(model).model_fields
    return {
        key: value for key, value in model.model_dump(exclude_unset=True).items() if key in known
    }


def require_uuid(value: str, name: str) -> str:
    """``value`` if it is a UUID, else :class:`ApiError` 400 naming the path parameter."""
    if not is_uuid(value):
        raise ApiError(400, f"{name} must be a UUID, got {value!r}", "INVALID_ID")
    return value


class StoreAccess:
    """One :class:`Store` shared by every request: calls run off the event loop on the
    writer thread (:mod:`.writer`), since a Store is not thread-safe. The store opens at the
    first call (a busy file at start-up then answers 503 instead of failing the server) and
    each write is committed before its call returns, hence before the request is answered."""

    def __init__(
        self, db_path: str, busy_timeout: float = 5.0, *, write_lock: str | None = None
    ) -> None:
        self.db_path = db_path
        self.busy_timeout = busy_timeout
        self._turn = WriteTurn(write_lock)
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Write] = []
        self._store: Store | None = None
        self._read_lock = threading.Lock()
        self._reader: Store | None = None
        self._writer = Writer(self._run_jobs, "honeytrace-collector-writer")

    def open(self) -> None:
        """Open the store now, so that a path that cannot be a store fails at start-up; a busy
        file is left for the first request to retry."""
        with self._lock, contextlib.suppress(StoreBusyError):
            self._opened()

    async def call(self, method: str, *args: Any) -> Any:
        """Run ``Store.<method>(*args)`` off the event loop and return its result."""
        return await run_in_threadpool(self._writer.run, Job(method, args, None))

    async def read(self, query: Callable[..., Result], *args: Any) -> Result:
        """Run ``query(connection, *args)`` off the event loop (a viewer read query), on a
        connection of its own: in WAL mode a long search never holds up the writes."""
        return await run_in_threadpool(self._read, query, *args)

    def _read(self, query: Callable[..., Result], *args: Any) -> Result:
        with self._read_lock:
            if self._reader is None:
                with self._lock:  # the first open may create the schema: one at a time
                    self._opened()
                self._reader = Store(self.db_path, busy_timeout=self.busy_timeout)
            return query(self._reader.connection, *args)

    async def call_prepared(
        self, method: str | Callable[..., Any], prepare: Callable[[], tuple[Any, ...]]
    ) -> Any:
        """``Store.<method>(*prepare())`` (or ``method(store, *prepare())``), both off the
        event loop, on the writer's threads: ``prepare`` (decoding and validating a body) on
        its prepare thread, before the store's lock is taken; a failure of it (a 400) answers
        this request alone and writes nothing."""
        return await run_in_threadpool(self._writer.run, Job(method, None, prepare))

    def _run_jobs(self, jobs: list[Job]) -> None:
        writes = [_Write(job.method, job.args or ()) for job in jobs]

        def more() -> list[_Write]:
            # The jobs prepared while this group waited for the write turn (and the one in
            # preparation then) join it.
            extra = self._writer.take_ready()
            jobs.extend(extra)
            return [_Write(job.method, job.args or ()) for job in extra]

        with self._lock:
            self._run_batch(writes, more)
        for job, write in zip(jobs, writes, strict=True):
            if write.error is not None:
                job.future.set_exception(write.error)
            else:
                job.future.set_result(write.result)

    def _call_prepared(
        self, method: str | Callable[..., Any], prepare: Callable[[], tuple[Any, ...]]
    ) -> Any:
        args = prepare()
        return self._grouped(_Write(method, args))

    def _grouped(self, write: _Write) -> Any:
        """Group commit: the write joins the queue, and whichever thread gets the store's
        lock runs every queued write in one transaction (each all-or-nothing on its own, see
        :meth:`Store.transaction`). Concurrent requests then share a commit, the cost that
        grows with each transaction, and each still returns only once its write is
        committed (the lock is released after the commit)."""
        with self._queue_lock:
            self._queue.append(write)
        with self._lock:
            if not write.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run_batch(batch)
        if write.error is not None:
            raise write.error
        return write.result

    def _run_batch(
        self, batch: list[_Write], more: Callable[[], list[_Write]] | None = None
    ) -> None:
        try:
            store = self._opened()
            if more is None:
                with self._turn.held():
                    self._run_writes(store, batch)
            else:
                with self._writer.exclusive(self._turn):
                    batch.extend(more())
                    self._run_writes(store, batch)
        except Exception as exc:  # the open, BEGIN or COMMIT: nothing of the group was stored
            for write in batch:
                write.result, write.error = None, write.error or exc
        finally:
            for write in batch:
                write.done = True

    @staticmethod
    def _run_writes(store: Store, batch: list[_Write]) -> None:
        if len(batch) == 1:
            batch[0].run(store)
        else:
            with store.transaction():
                for write in batch:
                    with contextlib.suppress(Exception):  # kept in write.error
                        write.run(store)

    def _call(self, method: str, *args: Any) -> Any:
        return self._grouped(_Write(method, args))

    def _opened(self) -> Store:
        if self._store is None:
            self._store = Store(self.db_path, busy_timeout=self.busy_timeout)
        return self._store

    def close(self) -> None:
        """Close the store; a later call would open it again."""
        self._writer.stop()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._turn.close()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


class _Write:
    """One queued write of :meth:`StoreAccess._grouped`, and its outcome."""

    __slots__ = ("args", "done", "error", "method", "result")

    def __init__(self, method: str | Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.method, self.args = method, args
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self, store: Store) -> None:
        try:
            method = self.method
            if isinstance(method, str):
                self.result = getattr(store, method)(*self.args)
            else:
                self.result = method(store, *self.args)
        except Exception as exc:
            self.error = exc
            raise


def store_of(request: Request) -> StoreAccess:
    """The app's store access."""
    access: StoreAccess = request.app.state.store
    return access


SESSION_COOKIE = "honeytrace_login"
"""The viewer's login cookie (HttpOnly, SameSite=Strict, Path=/), set by ``POST /login``."""

# Reachable without a key: liveness, the login form and its post, and the viewer's code and
# styles (static files, no data), so that the login page itself can load.
_OPEN_PATHS = frozenset({"/healthz", "/login", "/logout"})
_OPEN_PREFIX = "/static/"
_READS = frozenset({"GET", "HEAD"})


def cookie_token(api_key: str) -> str:
    """The login cookie's value: derived from the key (the key itself never sits in the
    browser), and the same across restarts with the same key."""
    return hmac.new(api_key.encode(), b"honeytrace viewer login", hashlib.sha256).hexdigest()


class BearerAuth:
    """ASGI middleware: every request but ``GET /healthz``, the login page and the viewer's
    static files needs ``Authorization: Bearer <key>``, compared in constant time. A read
    (GET, HEAD) may carry the login cookie instead; writes always need the bearer key. A
    browser asking for a page without either is sent to ``/login``; anything else is 401."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()
        self._cookie = cookie_token(api_key).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        response: Response
        if scope["method"] in _READS and b"text/html" in headers.get(b"accept", b""):
            response = RedirectResponse("/login", status_code=303)
        else:
            response = error_response(
                401,
                "missing or wrong API key: send Authorization: Bearer <key>",
                "UNAUTHORIZED",
                {"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        header = b""
        cookies = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
            elif name == b"cookie":
                cookies = value
        scheme, _, token = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key):
            return True
        if scope["method"] not in _READS or not cookies:
            return False
        login = _cookie(cookies, SESSION_COOKIE.encode())
        return login is not None and hmac.compare_digest(login, self._cookie)


def _is_open(path: str) -> bool:
    return path in _OPEN_PATHS or path.startswith(_OPEN_PREFIX)


def _cookie(header: bytes, name: bytes) -> bytes | None:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value.strip()
    return None
