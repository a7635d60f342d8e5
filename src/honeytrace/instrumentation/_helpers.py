"""The stream helpers (``with client....stream(...) as s``): those built on a traced
``create(stream=True)`` only rename its event and end it with their ``with`` block; those that
make their request themselves (Anthropic) open the event when entered and receive a traced raw
stream through their stream object's constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import wrapt

from honeytrace._errors import internal_error
from honeytrace.instrumentation._calls import (
    Adoption,
    Factory,
    HelperScope,
    current_helper,
    end_failed,
    inside,
    pending_adoption,
)
from honeytrace.instrumentation._patching import Instrumentor, WrapperFunction
from honeytrace.instrumentation._record import Endpoint, Result, TracedCall
from honeytrace.instrumentation._streams import StreamState, wrap_stream

__all__ = ["adopting_wrapper", "deferred_stream_wrapper", "helper_wrapper"]


# -- stream helpers whose request runs inside a traced create ---------------------------------


def helper_wrapper(name: str) -> Factory:
    """For a helper (``chat.completions.stream``) that returns a manager whose ``__enter__``
    calls the traced ``create(stream=True)``: the event takes the helper's name and ends when
    the manager's ``with`` block does."""

    def factory(instrumentor: Instrumentor[Any]) -> WrapperFunction:
        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            manager = wrapped(*args, **kwargs)
            if instrumentor.handle_for(instance) is None:
                return manager
            try:
                return _HelperManager(manager, name)
            except Exception:
                internal_error("wrapping a stream helper")
                return manager

        return wrapper

    return factory


class _HelperManager(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A stream helper's context manager; the stream object it gives is the SDK's own."""

    def __init__(self, wrapped: Any, name: str) -> None:
        super().__init__(wrapped)
        self._self_scope = HelperScope(name)

    def __enter__(self) -> Any:
        token = current_helper.set(self._self_scope)
        try:
            return self.__wrapped__.__enter__()
        finally:
            current_helper.reset(token)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            for state in self._self_scope.states:
                state.finish(early=True)

    async def __aenter__(self) -> Any:
        token = current_helper.set(self._self_scope)
        try:
            return await self.__wrapped__.__aenter__()
        finally:
            current_helper.reset(token)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            for state in self._self_scope.states:
                state.finish(early=True)


# -- stream helpers that make their request themselves ---------------------------------------


def deferred_stream_wrapper(endpoint: Endpoint) -> Factory:
    """For a helper (Anthropic ``messages.stream``) that returns a manager whose ``__enter__``
    makes the request and builds a stream object around the raw SSE stream: the event starts
    at ``__enter__`` and sees the raw stream through :func:`adopting_wrapper`."""

    def factory(instrumentor: Instrumentor[Any]) -> WrapperFunction:
        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            handle = instrumentor.handle_for(instance)
            manager = wrapped(*args, **kwargs)
            if handle is None or inside.get():
                return manager
            try:
                request = endpoint.request(instance, kwargs, handle.options)
                request.stream = True
                adoption = Adoption(TracedCall(endpoint, request), endpoint, request)
                return _DeferredManager(manager, adoption)
            except Exception:
                internal_error("wrapping a stream helper")
                return manager

        return wrapper

    return factory


class _DeferredManager(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A stream helper's context manager that opens the event when entered."""

    def __init__(self, wrapped: Any, adoption: Adoption) -> None:
        super().__init__(wrapped)
        self._self_adoption = adoption

    def _begin(self) -> Any:
        adoption: Adoption = self._self_adoption
        try:
            adoption.call.begin()
        except Exception:
            internal_error("starting a stream helper's event")
        return pending_adoption.set(adoption)

    def _failed(self, exc: BaseException) -> None:
        adoption: Adoption = self._self_adoption
        if adoption.state is not None:
            adoption.state.finish(exc)
        else:
            end_failed(adoption.call, exc)

    def _done(self) -> None:
        adoption: Adoption = self._self_adoption
        if adoption.state is not None:
            adoption.state.finish(early=True)
        elif not adoption.call.ended:  # the stream object was not adopted (a newer SDK?)
            try:
                adoption.call.end(Result())
            except Exception:
                internal_error("ending a stream helper's event")

    def __enter__(self) -> Any:
        token = self._begin()
        try:
            return self.__wrapped__.__enter__()
        except BaseException as exc:
            self._failed(exc)
            raise
        finally:
            pending_adoption.reset(token)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._done()

    async def __aenter__(self) -> Any:
        token = self._begin()
        try:
            return await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._failed(exc)
            raise
        finally:
            pending_adoption.reset(token)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._done()


def adopting_wrapper(argument: str) -> Factory:
    """For the constructor of a helper's stream object (``MessageStream.__init__``): while a
    deferred helper is being entered, its raw SSE stream (the first positional argument, or
    keyword ``argument``) is replaced by a traced proxy, so the event sees every event and
    ends when the stream is read, closed or collected."""

    def factory(instrumentor: Instrumentor[Any]) -> WrapperFunction:
        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            adoption = pending_adoption.get()
            if adoption is None or adoption.state is not None:
                return wrapped(*args, **kwargs)
            try:
                accumulate = adoption.endpoint.accumulator
                if accumulate is not None:
                    state = StreamState(adoption.call, accumulate(adoption.request))
                    if args:
                        args = (wrap_stream(args[0], state), *args[1:])
                    else:
                        kwargs = {**kwargs, argument: wrap_stream(kwargs[argument], state)}
                    adoption.state = state
            except Exception:
                internal_error("adopting a helper's stream")
            return wrapped(*args, **kwargs)

        return wrapper

    return factory
