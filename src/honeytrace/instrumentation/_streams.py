"""Streams: the event of a streamed call stays open until the stream is exhausted, fails, is
closed, or is garbage-collected, and sees every chunk on the way to the user.

:class:`TracedStream` and :class:`AsyncTracedStream` are wrapt proxies around the SDK's own
stream objects: ``isinstance``, attributes (``response``, ...) and context-manager use are the
SDK's, and the user iterates the very chunk objects the SDK yields. The only change is that a
usage-only chunk that the tracer asked for (and the user did not) is not passed on.

An early ``break`` ends the event with what was received so far, marked
``metadata["stream_closed_early"]`` (it is not an error), as honeytrace does for generators.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from time import perf_counter_ns
from types import TracebackType
from typing import Any

import wrapt

from honeytrace._errors import internal_error
from honeytrace.instrumentation._record import Accumulator, TracedCall

__all__ = ["AsyncTracedStream", "StreamState", "TracedStream", "wrap_stream"]


class StreamState:
    """The tracing side of one stream; kept apart from the proxy so that a finalizer can end
    the event without keeping the proxy alive."""

    __slots__ = ("accumulator", "call", "first_token")

    def __init__(self, call: TracedCall, accumulator: Accumulator) -> None:
        self.call = call
        self.accumulator = accumulator
        self.first_token = 0

    def observe(self, item: Any) -> bool:
        """Take one item; True means the user must not see it."""
        accumulator = self.accumulator
        try:
            accumulator.add(item)
            if not self.first_token and accumulator.has_output:
                self.first_token = perf_counter_ns()
        except Exception:
            internal_error("reading a streamed chunk")
        # Decided apart from the reading above, so that a failure there changes nothing of
        # what the user receives.
        try:
            return accumulator.hides(item)
        except Exception:
            internal_error("reading a streamed chunk")
            return False

    def finish(self, error: BaseException | None = None, early: bool = False) -> None:
        """End the event with what was assembled (once)."""
        call = self.call
        if call.ended:
            return
        try:
            result = self.accumulator.result()
            if self.first_token:
                ttft = (self.first_token - call.started) / 1_000_000
                result.metrics["time_to_first_token_ms"] = ttft
            if early and not getattr(self.accumulator, "complete", False):
                result.metadata["stream_closed_early"] = True
        except Exception:
            internal_error("assembling a stream")
            result = None
        try:
            call.end(result, error)
        except Exception:
            internal_error("ending a stream's event")

    def collected(self) -> None:
        """The stream was garbage-collected unfinished."""
        self.finish(early=True)


def _on_collect(proxy: object, state: StreamState) -> None:
    finalizer = weakref.finalize(proxy, state.collected)
    # At interpreter exit honeytrace itself ends events still open (marked incomplete).
    finalizer.atexit = False


class TracedStream(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A synchronous SDK stream, observed."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        _on_collect(self, state)

    def __iter__(self) -> Iterator[Any]:
        state: StreamState = self._self_state
        iterator = iter(self.__wrapped__)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                state.finish()
                return
            except BaseException as exc:
                state.finish(exc)
                raise
            if state.observe(item):
                continue
            try:
                yield item
            except GeneratorExit:  # an early break, close() or garbage collection
                state.finish(early=True)
                raise

    def __next__(self) -> Any:
        state: StreamState = self._self_state
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                state.finish()
                raise
            except BaseException as exc:
                state.finish(exc)
                raise
            if not state.observe(item):
                return item

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(early=True)

    def close(self) -> Any:
        """Close the SDK stream, then end the event."""
        try:
            return self.__wrapped__.close()
        finally:
            self._self_state.finish(early=True)


class AsyncTracedStream(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An asynchronous SDK stream, observed."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        _on_collect(self, state)

    async def __aiter__(self) -> AsyncIterator[Any]:
        state: StreamState = self._self_state
        iterator = self.__wrapped__.__aiter__()
        while True:
            try:
                item = await iterator.__anext__()
            except StopAsyncIteration:
                state.finish()
                return
            except BaseException as exc:
                state.finish(exc)
                raise
            if state.observe(item):
                continue
            try:
                yield item
            except GeneratorExit:  # an early break (once the loop finalizes us), aclose()
                state.finish(early=True)
                raise

    async def __anext__(self) -> Any:
        state: StreamState = self._self_state
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                state.finish()
                raise
            except BaseException as exc:
                state.finish(exc)
                raise
            if not state.observe(item):
                return item

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_state.finish(early=True)

    async def close(self) -> Any:
        """Close the SDK stream, then end the event."""
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_state.finish(early=True)


def wrap_stream(stream: Any, state: StreamState) -> Any:
    """The proxy that fits ``stream`` (async when it has ``__anext__``)."""
    if hasattr(type(stream), "__anext__"):
        return AsyncTracedStream(stream, state)
    return TracedStream(stream, state)
