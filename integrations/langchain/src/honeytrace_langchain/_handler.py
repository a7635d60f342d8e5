"""The LangChain callback handler: LangChain's run tree, as honeytrace events.

LangChain reports every run (chain, runnable, LangGraph node or graph, chat model, LLM, tool,
retriever) with its ``run_id`` and its parent's ``parent_run_id``, from whichever thread or task
runs it. The handler keeps each open run's event by ``run_id`` and starts a child under its
parent's event explicitly (:func:`honeytrace.instrumentation.begin_under`), so the tree holds
across ``asyncio`` tasks and LangGraph's worker threads without relying on the ambient context.
A run without a known parent nests in the current honeytrace event; outside any, its tree is
one session: named after the run, or, for a LangGraph ``thread_id`` (or a
``honeytrace_session_id`` in the run's metadata), the session of that id, so that a graph
interrupted and resumed later continues the same session.

Runs LangChain marks hidden (``langsmith:hidden``: LangGraph's internal writes and branches)
are not recorded; their children hang from the nearest recorded ancestor. A LangGraph
interrupt is recorded as such (``metadata["interrupted"]``), not as an error.

Every callback is cheap (no I/O, no lock: one dict operation and an event start or end) and
runs under honeytrace's guard: a tracing failure never reaches the application.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter_ns
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

import honeytrace
from honeytrace.instrumentation import begin_under, guarded, usage_source

from . import _convert

__all__ = ["CallbackHandler"]

_HIDDEN = "langsmith:hidden"
_SESSION_KEYS = ("honeytrace_session_id", "thread_id")
_GRAPH_METADATA = ("langgraph_node", "langgraph_step", "langgraph_triggers", "checkpoint_ns")
# LangGraph's control flow travels as exceptions: an interrupt, a Command to a parent graph.
_CONTROL_FLOW = frozenset({"GraphInterrupt", "NodeInterrupt", "GraphBubbleUp", "ParentCommand"})


class _Run:
    """One open LangChain run: its event, and the session it opened (a top-level run)."""

    __slots__ = ("first_token", "session", "span", "started")

    def __init__(self, span: honeytrace.Span | None, session: honeytrace.Session | None) -> None:
        self.span = span
        self.session = session
        self.started = perf_counter_ns()
        self.first_token = 0


class CallbackHandler(BaseCallbackHandler):
    """Records LangChain runs as honeytrace events: pass it in ``callbacks=[...]`` of a call or
    a ``RunnableConfig``, or let :func:`honeytrace_langchain.instrument` add it everywhere.

    Chains, runnables and LangGraph nodes and graphs are ``chain`` events; chat models and
    LLMs ``model`` events (messages, model, parameters, output message, token usage, time to
    first token when streamed); tools and retrievers ``tool`` events. A run's error is its
    event's error.
    """

    # Called directly on the event loop or thread that reports the run: the handler does no
    # I/O, and a start must be seen before its children's.
    run_inline = True
    raise_error = False

    def __init__(self) -> None:
        super().__init__()
        self.active = True
        self._runs: dict[UUID, _Run] = {}

    # -- the tree ---------------------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        event_type: str,
        inputs: Any,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any] | None,
        config: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if not self.active:
            return
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        if tags and _HIDDEN in tags:
            # Not recorded; its children hang from the nearest recorded ancestor.
            self._runs[run_id] = parent if parent is not None else _Run(None, None)
            return
        if inputs is None or inputs in ("", {"input": ""}):
            given = None  # a streamed run: its inputs come with its end
        else:
            given = inputs if isinstance(inputs, dict) else {"input": inputs}
        span = honeytrace.span(
            name,
            event_type,  # type: ignore[arg-type]
            inputs=given,
            config=config,
            metadata=_event_metadata(run_id, tags, metadata, extra),
        )
        session = None
        if parent is not None and parent.span is not None:
            begin_under(span, parent.span)
        elif parent is not None and parent.session is not None:
            begin_under(span, parent.session)
        else:
            session = _keyed_session(name, metadata)
            begin_under(span, session)
        self._runs[run_id] = _Run(span, session)

    def _end(
        self,
        run_id: UUID,
        outputs: Any = None,
        error: BaseException | None = None,
        metrics: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        run = self._runs.pop(run_id, None)
        if run is None or run.span is None:
            return
        span = run.span
        if error is not None:
            kinds = {kind.__name__ for kind in type(error).__mro__}
            if "GraphInterrupt" in kinds:
                metadata = {**(metadata or {}), "interrupted": True}
                outputs = {"interrupt": _interrupts(error)}
            if kinds & _CONTROL_FLOW:
                error = None
        if outputs is not None:
            span.set_outputs(outputs)
        if metrics or metadata:
            span.enrich(metrics=metrics or None, metadata=metadata or None)
        span.finish(error)
        if run.session is not None:
            if outputs is not None:
                run.session.set_outputs(outputs)
            run.session.finish(error)

    # -- chains, runnables, LangGraph ------------------------------------------------------

    @guarded
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain, runnable, or LangGraph graph or node started."""
        name = _name(serialized, kwargs, "chain")
        self._start(run_id, parent_run_id, name, "chain", _convert.compact(inputs), tags, metadata)

    @guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain ended."""
        run = self._runs.get(run_id)
        given = kwargs.get("inputs")
        if run is not None and run.span is not None and given not in (None, ""):
            # A streamed run starts with empty inputs; LangChain gives them at its end.
            inputs = _convert.compact(given)
            run.span.enrich(inputs=inputs if isinstance(inputs, dict) else {"input": inputs})
        self._end(run_id, _convert.compact(outputs))

    @guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain failed (or a LangGraph graph was interrupted)."""
        self._end(run_id, error=error)

    # -- chat models and LLMs --------------------------------------------------------------

    @guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model call started."""
        batches = [[_convert.message(item) for item in batch] for batch in messages]
        inputs = {"messages": batches[0] if len(batches) == 1 else batches}
        self._model_start(serialized, inputs, run_id, parent_run_id, tags, metadata, kwargs)

    @guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A (text completion) LLM call started."""
        inputs = {"prompt": prompts[0]} if len(prompts) == 1 else {"prompts": prompts}
        self._model_start(serialized, inputs, run_id, parent_run_id, tags, metadata, kwargs)

    def _model_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        params = kwargs.get("invocation_params")
        config = _convert.model_config(
            serialized, metadata, params if isinstance(params, Mapping) else None
        )
        name = _name(serialized, kwargs, "model")
        self._start(run_id, parent_run_id, name, "model", inputs, tags, metadata, config)

    @guarded
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed chunk arrived: the first one with content gives the time to first token."""
        run = self._runs.get(run_id)
        if run is not None and not run.first_token and (token or _has_tool_call(kwargs)):
            run.first_token = perf_counter_ns()

    @guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call ended: its output message, usage and the model that answered."""
        run = self._runs.get(run_id)
        metrics: dict[str, Any] = _convert.llm_usage(response)
        metadata = _convert.response_metadata(response)
        metadata["usage_source"] = usage_source(metrics)
        if run is not None and run.first_token:
            metrics["time_to_first_token_ms"] = (run.first_token - run.started) / 1_000_000
        self._end(run_id, _convert.generation_outputs(response), None, metrics, metadata)

    @guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call failed."""
        metadata: dict[str, Any] = {"usage_source": "missing"}
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            metadata["status_code"] = status
        self._end(run_id, error=error, metadata=metadata)

    # -- tools and retrievers --------------------------------------------------------------

    @guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool started."""
        name = _name(serialized, kwargs, "tool")
        given = inputs if isinstance(inputs, dict) else {"input": input_str}
        self._start(run_id, parent_run_id, name, "tool", given, tags, metadata)

    @guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool returned."""
        self._end(run_id, _convert.tool_output(output))

    @guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool failed."""
        self._end(run_id, error=error)

    @guarded
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A retriever started: a ``tool`` event marked ``metadata["retriever"]``."""
        name = _name(serialized, kwargs, "retriever")
        extra = {"retriever": True}
        self._start(
            run_id, parent_run_id, name, "tool", {"query": query}, tags, metadata, None, extra
        )

    @guarded
    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever returned its documents."""
        self._end(run_id, {"documents": _convert.documents(documents)})

    @guarded
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever failed."""
        self._end(run_id, error=error)


def _name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    serialized = serialized or {}
    name = serialized.get("name")
    if isinstance(name, str) and name:
        return name
    path = serialized.get("id")
    if isinstance(path, list) and path and isinstance(path[-1], str):
        return path[-1]
    return default


def _event_metadata(
    run_id: UUID,
    tags: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    found: dict[str, Any] = {"langchain_run_id": str(run_id)}
    if tags:
        found["tags"] = list(tags)
    for key in _GRAPH_METADATA:
        if metadata and metadata.get(key) not in (None, ""):
            found[key] = metadata[key]
    if extra:
        found.update(extra)
    return found


def _keyed_session(name: str, metadata: Mapping[str, Any] | None) -> honeytrace.Session | None:
    """For a top-level run outside any honeytrace session: the session of its LangGraph
    ``thread_id`` (or ``honeytrace_session_id``), begun; None when it has none (the run then
    opens an implicit session of its own)."""
    if honeytrace.current_event_id() is not None or not metadata:
        return None
    for key in _SESSION_KEYS:
        value = metadata.get(key)
        if value not in (None, ""):
            session = honeytrace.session(name, session_id=str(value))
            session.begin()
            return session
    return None


def _interrupts(error: BaseException) -> Any:
    """What a LangGraph interrupt asked for (its ``Interrupt`` values)."""
    found = []
    for item in error.args[0] if error.args and isinstance(error.args[0], Sequence) else ():
        found.append({"value": getattr(item, "value", item), "id": getattr(item, "id", None)})
    return found or str(error)


def _has_tool_call(kwargs: Mapping[str, Any]) -> bool:
    chunk = kwargs.get("chunk")
    message = getattr(chunk, "message", None)
    return bool(getattr(message, "tool_call_chunks", None))
