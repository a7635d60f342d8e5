"""The patch machinery: a declarative table of targets, applied with wrapt, undone by a handle.

An :class:`Instrumentor` owns one client library's table. ``instrument()`` patches every
target that exists in the installed version (a target that is missing — an older or newer
library — is skipped), once, however often it is called; each call returns an
:class:`Instrumentation` handle (for the whole library, or for one client object), and the
patches are removed when the last handle is undone. Nothing is imported until
``instrument()`` runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import wrapt

from honeytrace._errors import logger

__all__ = ["Instrumentation", "Instrumentor", "Patch", "WrapperFunction"]

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""A wrapt wrapper: ``(wrapped, instance, args, kwargs) -> result``."""

OptionsT = TypeVar("OptionsT")
_MISSING = object()


@dataclass(frozen=True)
class Patch:
    """One patch target: ``attribute`` (``"Class.method"``) of ``module``, and the factory of
    the wrapper that traces it (given the instrumentor, to find out whether a call is traced)."""

    module: str
    attribute: str
    wrapper: Callable[[Instrumentor[Any]], WrapperFunction]


class _Applied:
    """A patch in place: enough to put the original back."""

    __slots__ = ("active", "name", "original", "owner", "wrapper")

    def __init__(self, owner: Any, name: str, original: Any) -> None:
        self.owner = owner
        self.name = name
        self.original = original
        self.active = True
        self.wrapper: Any = None

    def is_active(self) -> bool:
        return self.active


class Instrumentation(Generic[OptionsT]):
    """What ``instrument()`` returns: :meth:`uninstrument` (or leaving a ``with`` block)
    undoes it. ``client`` is the one client traced, or ``None`` for every client."""

    def __init__(self, owner: Instrumentor[OptionsT] | None, client: Any, options: OptionsT):
        self._owner = owner
        self._client_ref = weakref.ref(client) if client is not None else None
        self.options = options
        self.active = owner is not None

    @property
    def client(self) -> Any:
        """The client object this handle traces, or ``None`` when it traces every client."""
        return self._client_ref() if self._client_ref is not None else None

    def uninstrument(self) -> None:
        """Stop tracing what this handle traces (idempotent)."""
        owner = self._owner
        if owner is not None and self.active:
            owner.release(self)

    def __enter__(self) -> Instrumentation[OptionsT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstrument()

    def __repr__(self) -> str:
        scope = "all clients" if self._client_ref is None else f"client {self.client!r}"
        state = "active" if self.active else "inactive"
        return f"<Instrumentation {state}: {scope}>"


class Instrumentor(Generic[OptionsT]):
    """The patch table of one client library and the handles that keep it applied."""

    def __init__(
        self, distribution: str, min_version: tuple[int, ...], patches: Sequence[Patch]
    ) -> None:
        self.distribution = distribution
        self.min_version = min_version
        self.patches = tuple(patches)
        self._lock = threading.RLock()
        self._applied: list[_Applied] = []
        self._global: Instrumentation[OptionsT] | None = None
        self._clients: weakref.WeakKeyDictionary[Any, Instrumentation[OptionsT]] = (
            weakref.WeakKeyDictionary()
        )

    # -- the handles ----------------------------------------------------------------------

    def instrument(self, client: Any, options: OptionsT) -> Instrumentation[OptionsT]:
        """Trace every client (``client=None``) or one; patch the library if not yet done."""
        with self._lock:
            existing = self._global if client is None else self._clients.get(client)
            if existing is not None:
                existing.options = options  # idempotent: the same handle, the latest options
                return existing
            if not self._applied and not self._apply():
                return Instrumentation(None, client, options)
            handle = Instrumentation(self, client, options)
            if client is None:
                self._global = handle
            else:
                self._clients[client] = handle
            return handle

    def release(self, handle: Instrumentation[OptionsT]) -> None:
        """Undo one handle; remove the patches when none is left."""
        with self._lock:
            handle.active = False
            if self._global is handle:
                self._global = None
            client = handle.client
            if client is not None and self._clients.get(client) is handle:
                del self._clients[client]
            if self._global is None and not len(self._clients):
                self._restore()

    def uninstrument(self, client: Any = None) -> None:
        """Undo the handle of ``client``, or every handle when ``client`` is ``None``."""
        with self._lock:
            if client is not None:
                handle = self._clients.get(client)
                if handle is not None:
                    self.release(handle)
                return
            for handle in [self._global, *self._clients.values()]:
                if handle is not None:
                    handle.active = False
            self._global = None
            self._clients.clear()
            self._restore()

    def handle_for(self, resource: Any) -> Instrumentation[OptionsT] | None:
        """The handle that traces a call on ``resource`` (an SDK resource such as
        ``client.chat.completions``, which keeps its client in ``_client``), if any."""
        if len(self._clients):
            client = getattr(resource, "_client", None)
            if client is not None:
                try:
                    handle = self._clients.get(client)
                except TypeError:  # an unhashable stand-in for a client
                    handle = None
                if handle is not None:
                    return handle
        return self._global

    @property
    def patched(self) -> bool:
        """Whether the library is patched now."""
        return bool(self._applied)

    # -- the patches ----------------------------------------------------------------------

    def _supported(self) -> bool:
        try:
            version = importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            logger.warning(
                "honeytrace: %s is not installed; nothing to instrument", self.distribution
            )
            return False
        if _version_tuple(version) < self.min_version:
            wanted = ".".join(str(part) for part in self.min_version)
            logger.warning(
                "honeytrace: %s %s is older than %s; not instrumented",
                self.distribution,
                version,
                wanted,
            )
            return False
        return True

    def _apply(self) -> bool:
        if not self._supported():
            return False
        for patch in self.patches:
            try:
                module = importlib.import_module(patch.module)
                *path, name = patch.attribute.split(".")
                owner: Any = module
                for part in path:
                    owner = getattr(owner, part)
                original = inspect.getattr_static(owner, name)
            except (ImportError, AttributeError):
                # Not in this version of the library: the table lists what may exist.
                logger.debug("honeytrace: %s.%s not found; skipped", patch.module, patch.attribute)
                continue
            applied = _Applied(owner, name, vars(owner).get(name, _MISSING))
            applied.wrapper = wrapt.FunctionWrapper(
                original, patch.wrapper(self), enabled=applied.is_active
            )
            setattr(owner, name, applied.wrapper)
            self._applied.append(applied)
        return bool(self._applied)

    def _restore(self) -> None:
        for applied in reversed(self._applied):
            applied.active = False
            owner, name = applied.owner, applied.name
            if vars(owner).get(name) is not applied.wrapper:
                # Someone wrapped over us since: unpatching would drop their wrapper too, so
                # ours stays in the chain, switched off (it calls straight through).
                continue
            if applied.original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, applied.original)
        self._applied.clear()


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)
