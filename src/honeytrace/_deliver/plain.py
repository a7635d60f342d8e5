"""The serializer's fast path: plain values, checked in place instead of walked and copied.

Most of what a traced function takes and returns is plain: str, int, float, bool and None, in
small dicts, lists and tuples. For those, :mod:`.serialize`'s general walker (cycles, hostile
objects, limits, masking) would make an equal copy, at several times the cost. Here, a dict
the caller owns is checked in one pass and fixed in place (secret names masked, tuples made
lists, nested containers copied); whatever the walker might render differently (another type,
a value to cut, a secret inside a string, a non-str key, a key the walker would rename, a
level too deep) makes the check fail, with the dict left as it was, and the caller walks it.
So the fast path never decides anything the walker would decide otherwise: the result is the
walker's, exactly (tests/test_encode_bodies.py compares the two on many values).

Key names are analysed once per key string (:func:`_key_rule`): a secret name, a key the
walker would change, or a plain one.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.mask import MASK, MIN_SECRET, needs_scrub, secret_tail

if TYPE_CHECKING:
    from honeytrace._deliver.serialize import Limits

__all__ = ["BEARER", "MAYBE_BEARER", "check_dict", "fast_limits", "own_dict", "own_list"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Past these sizes a value goes to the walker (which may cut it); every value within them is
# taken by the fast path only when the walker would copy it unchanged.
_ITEMS = 256
_DEPTH = 3  # levels of containers below the top-level dict
_KEY = 64  # longer keys are rare; the walker handles them
_COST = 16  # more than the walker's size estimate of one item, beyond its text
BEARER = re.compile(r"\s*bearer ", re.IGNORECASE)
"""A ``Bearer`` credential: the walker masks a string that starts like this."""
# How a string that BEARER matches can start: "b", "B", or what \s matches (str.isspace()).
MAYBE_BEARER = frozenset(
    "bB\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_PLAIN_KEY, _SECRET_KEY, _ODD_KEY = 0, 1, 2
_KEY_RULES: dict[str, int] = {}
"""What each key string is to the fast path, decided once (a program uses few key names)."""


def _key_rule(key: str) -> int:
    """:data:`_SECRET_KEY` for a secret name, :data:`_ODD_KEY` for a key the walker would
    change as it copies it (long, non-ASCII, masked or scrubbed itself), else
    :data:`_PLAIN_KEY`."""
    if (
        len(key) > _KEY
        or not key.isascii()
        or (key[:1] in MAYBE_BEARER and BEARER.match(key) is not None)
        or needs_scrub(key)
    ):
        rule = _ODD_KEY
    else:
        rule = _SECRET_KEY if secret_tail(key) else _PLAIN_KEY
    if len(_KEY_RULES) >= 4096:  # bounded: made-up keys (ids as keys) cannot grow it forever
        _KEY_RULES.clear()
    _KEY_RULES[key] = rule
    return rule


def fast_limits(limits: Limits) -> bool:
    """Whether the fast path can serve these limits (tighter ones cut keys or levels: the
    walker's business)."""
    return limits.max_string >= _KEY and limits.max_depth > _DEPTH


def own_dict(obj: dict[Any, Any], limits: Limits, mask: bool) -> bool:
    """Whether ``obj``, a dict the caller owns (nobody else holds it), is now exactly what the
    walker would make of it: True after fixing it in place, False with ``obj`` unchanged."""
    return fast_limits(limits) and check_dict(obj, 1, limits, mask) >= 0


def own_list(obj: list[Any], limits: Limits, mask: bool) -> bool:
    """:func:`own_dict` for a list the caller owns."""
    return fast_limits(limits) and _check_list(obj, 1, limits, mask) >= 0


def check_dict(obj: dict[Any, Any], depth: int, limits: Limits, mask: bool) -> int:
    """An upper bound of the walker's size estimate of ``obj``, a private dict whose values
    are at level ``depth``, after fixing it in place; -1 (``obj`` unchanged) when the walker
    must decide, or when it may not fit the walker's budget."""
    if len(obj) > _ITEMS or len(obj) > limits.max_items:
        return -1
    cost = 2
    changes: list[tuple[str, Any]] | None = None
    max_string = limits.max_string
    rules = _KEY_RULES
    for key, value in obj.items():
        if type(key) is not str:
            return -1
        rule = rules.get(key)
        if rule is None:
            rule = _key_rule(key)
        if rule:
            if rule == _ODD_KEY:
                return -1
            if mask:  # a secret name: its value is not even looked at
                if changes is None:
                    changes = []
                changes.append((key, MASK))
                cost += len(key) + _COST
                continue
        kind = type(value)
        if kind is str:
            size = len(value)
            if size > max_string or (value[:1] in MAYBE_BEARER and BEARER.match(value)):
                return -1
            if mask and size >= MIN_SECRET and needs_scrub(value):
                return -1  # a secret inside: the walker masks it
            if not value.isascii() and not _utf8(value):
                return -1
            cost += size
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return -1
        elif kind is float:
            if not math.isfinite(value):
                return -1
        elif kind is dict or kind is list or kind is tuple:
            # A copy, checked in place: never the user's own container, which another thread
            # may be changing (a copy is one C call, atomic under the GIL).
            if depth >= _DEPTH or len(value) > _ITEMS:
                return -1
            copy: Any = dict(value) if kind is dict else list(value)
            size = (
                check_dict(copy, depth + 1, limits, mask)
                if kind is dict
                else _check_list(copy, depth + 1, limits, mask)
            )
            if size < 0:
                return -1
            if changes is None:
                changes = []
            changes.append((key, copy))
            cost += size
        elif value is not None and kind is not bool:
            return -1
        cost += len(key) + _COST
    # The walker counts the top level too; below its budget, it cuts nothing.
    if cost + _COST >= limits.max_total:
        return -1
    if changes is not None:
        for key, value in changes:  # the same keys: the dict does not change size
            obj[key] = value
    return cost


def _check_list(obj: list[Any], depth: int, limits: Limits, mask: bool) -> int:
    """:func:`_check_dict` for a private list."""
    if len(obj) > _ITEMS or len(obj) > limits.max_items:
        return -1
    cost = 2
    changes: list[tuple[int, Any]] | None = None
    max_string = limits.max_string
    for index, value in enumerate(obj):
        kind = type(value)
        if kind is str:
            size = len(value)
            if size > max_string or (value[:1] in MAYBE_BEARER and BEARER.match(value)):
                return -1
            if mask and size >= MIN_SECRET and needs_scrub(value):
                return -1
            if not value.isascii() and not _utf8(value):
                return -1
            cost += size
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return -1
        elif kind is float:
            if not math.isfinite(value):
                return -1
        elif kind is dict or kind is list or kind is tuple:
            if depth >= _DEPTH or len(value) > _ITEMS:
                return -1
            copy: Any = dict(value) if kind is dict else list(value)
            size = (
                check_dict(copy, depth + 1, limits, mask)
                if kind is dict
                else _check_list(copy, depth + 1, limits, mask)
            )
            if size < 0:
                return -1
            if changes is None:
                changes = []
            changes.append((index, copy))
            cost += size
        elif value is not None and kind is not bool:
            return -1
        cost += _COST
    if cost + _COST >= limits.max_total:
        return -1
    if changes is not None:
        for index, value in changes:
            obj[index] = value
    return cost


def _utf8(text: str) -> bool:
    """Whether UTF-8 can carry ``text`` (no lone surrogate): the walker keeps it as it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
