"""Helpers of the attribute mapping: flattened attributes nested again, JSON strings parsed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["as_list", "first", "indexed", "json_value", "listify", "nest"]

Body = dict[str, Any]

_MAX_PARSED = 1 << 20  # JSON strings longer than this stay strings (the serializer cuts them)


def first(rest: Body, keys: Iterable[str]) -> Any:
    """Pop every key; the first non-empty value among them."""
    found = None
    for key in keys:
        value = rest.pop(key, None)
        if found is None and value not in (None, ""):
            found = value
    return found


def json_value(value: Any) -> Any:
    """A JSON document given as a string, parsed; anything else unchanged."""
    if isinstance(value, tuple):
        return [json_value(item) for item in value]
    if not isinstance(value, str) or len(value) > _MAX_PARSED:
        return value
    text = value.lstrip()
    if not text or text[0] not in '{["':
        return value
    try:
        return json.loads(text)
    except ValueError:
        return value


def as_list(value: Any) -> list[Any]:
    """A list as is, a tuple as a list, None as [], anything else as a one-item list."""
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [] if value is None else [value]


def indexed(rest: Body, prefix: str) -> list[Body]:
    """Pop the flattened ``prefix.N.key...`` attributes and return them nested, by N."""
    head = prefix + "."
    found: dict[int, Body] = {}
    for key in [key for key in rest if key.startswith(head)]:
        index, _, tail = key[len(head) :].partition(".")
        if not index.isdigit() or not tail:
            continue
        found.setdefault(int(index), {})[tail] = rest.pop(key)
    return [nest(found[index]) for index in sorted(found)]


def nest(flat: Mapping[str, Any]) -> Body:
    """``{"a.b": 1, "a.c.0.d": 2}`` -> ``{"a": {"b": 1, "c": [{"d": 2}]}}``."""
    tree: Body = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    nested = listify(tree)
    return nested if isinstance(nested, dict) else {"items": nested}


def listify(node: Any) -> Any:
    """Dicts whose keys are all digits become lists, ordered by index."""
    if not isinstance(node, dict):
        return node
    converted = {key: listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
