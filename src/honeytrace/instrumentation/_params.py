"""Request arguments -> the event's ``inputs`` and ``config``, cheaply and without surprises.

Nothing here serializes (honeytrace does that on its flusher thread); values are kept as passed,
except that top-level lists and dicts are copied (an app that appends to its message list after
the call must not rewrite what was recorded) and a class (``response_format=MyModel``) is
recorded by name. Iterables of other kinds are never iterated: a generator would be consumed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["SKIPPED", "given", "server_metadata", "snapshot", "split_request"]

SKIPPED = frozenset({"extra_headers", "extra_query", "timeout"})
"""Transport options of the SDK call, not model parameters (headers may carry credentials)."""

_SENTINELS = frozenset({"NotGiven", "Omit"})


def given(value: Any) -> bool:
    """False for the SDKs' "argument not given" sentinels (``NOT_GIVEN``, ``omit``)."""
    return value is not None and type(value).__name__ not in _SENTINELS


def snapshot(value: Any) -> Any:
    """A shallow copy of a list or dict (a tuple becomes a list); other values as they are."""
    kind = type(value)
    if kind is list or kind is tuple:
        return list(value)
    if kind is dict:
        return dict(value)
    if isinstance(value, type):
        return value.__name__
    return value


def split_request(
    kwargs: dict[str, Any], input_keys: Iterable[str], provider: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(inputs, config)``: the prompt-like arguments, and the model and its parameters."""
    inputs: dict[str, Any] = {}
    config: dict[str, Any] = {"provider": provider}
    model = kwargs.get("model")
    if given(model):
        config["model"] = model
    keys = frozenset(input_keys)
    for key, value in kwargs.items():
        if key in SKIPPED or key == "model" or not given(value):
            continue
        if key in keys:
            inputs[key] = snapshot(value)
        else:
            config[key] = snapshot(value)
    return inputs, config


def server_metadata(resource: Any, default_host: str) -> dict[str, Any]:
    """``{"base_url": ...}`` when the client talks to another server than the provider's own
    (a proxy, Azure, a compatible server), else ``{}``."""
    client = getattr(resource, "_client", None)
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return {}
    text = str(base_url)
    return {} if default_host in text else {"base_url": text}
