"""The toolkit honeytrace's client integrations are built with (``honeytrace-openai``,
``honeytrace-anthropic``), public so that an integration for another client can use it too.

- :class:`Patch` rows make a declarative, version-gated table of methods to wrap;
  :class:`Instrumentor` applies it with wrapt and :class:`Instrumentation` is the handle that
  undoes it.
- :func:`call_wrapper` turns an :class:`Endpoint` (how to read a request, a response, a stream
  chunk) into the wrapper of an API method: one ``model`` event per call, streams included.
- :func:`usage_metrics` writes token usage under the one documented set of metric names
  (:data:`TOKEN_METRICS`); :func:`usage_source` says whether a call reported it.
- :func:`begin_under` starts an event under an explicit parent (frameworks that report their own
  run tree through callbacks, on any thread).
- :func:`split_request` / :func:`server_metadata` sort a call's keyword arguments into inputs
  and config, and describe a non-default server.

:func:`guarded` runs a callback of an integration under honeytrace's internal-error guard.
Tracing failures inside any of it are logged once and swallowed; the API call's result or
exception reaches the application unchanged.
"""

from honeytrace._errors import guarded
from honeytrace.instrumentation._calls import call_wrapper
from honeytrace.instrumentation._helpers import (
    adopting_wrapper,
    deferred_stream_wrapper,
    helper_wrapper,
)
from honeytrace.instrumentation._nesting import begin_under
from honeytrace.instrumentation._params import server_metadata, split_request
from honeytrace.instrumentation._patching import Instrumentation, Instrumentor, Patch
from honeytrace.instrumentation._record import Endpoint, Request, Result
from honeytrace.instrumentation._usage import (
    TOKEN_METRICS,
    UsageSource,
    usage_metrics,
    usage_source,
)

__all__ = [
    "TOKEN_METRICS",
    "Endpoint",
    "Instrumentation",
    "Instrumentor",
    "Patch",
    "Request",
    "Result",
    "UsageSource",
    "adopting_wrapper",
    "begin_under",
    "call_wrapper",
    "deferred_stream_wrapper",
    "guarded",
    "helper_wrapper",
    "server_metadata",
    "split_request",
    "usage_metrics",
    "usage_source",
]
