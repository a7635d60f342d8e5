"""Embeddings (``embeddings.create``) as model events.

``inputs`` are the ``input`` texts; ``outputs`` say how many vectors of which size came back,
not the vectors themselves (thousands of floats per text would drown the trace, as in other
tracers); ``metrics`` the token usage.
"""

from __future__ import annotations

from typing import Any

from honeytrace.instrumentation import Endpoint, Request, Result, server_metadata, split_request

from ._chat import DEFAULT_HOST
from ._usage import response_metadata, usage_metrics

__all__ = ["CREATE"]


def _request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    inputs, config = split_request(kwargs, ("input",), "openai")
    return Request(inputs, config, server_metadata(resource, DEFAULT_HOST))


def _response(response: Any) -> Result:
    data = getattr(response, "data", None)
    if not isinstance(data, list):  # with_raw_response: the body is the user's to parse
        return Result(metadata={"raw_response": True})
    outputs: dict[str, Any] = {"embeddings": len(data)}
    vector = getattr(data[0], "embedding", None) if data else None
    if isinstance(vector, list):  # base64 strings (encoding_format="base64") have no length
        outputs["dimensions"] = len(vector)
    metadata = response_metadata(response)
    return Result(outputs, usage_metrics(getattr(response, "usage", None)), metadata)


CREATE = Endpoint("openai.embeddings.create", _request, _response)
