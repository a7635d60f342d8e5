"""Any Python object -> a bounded JSON-able value: the flusher's view of user data.

:func:`to_jsonable` turns function arguments, return values and metadata into dicts with str
keys, lists, str, int, float, bool and None that ``json.dumps(allow_nan=False)`` and
``pydantic_core.to_json`` accept and that encode as UTF-8. It never raises, never consumes an
iterator, survives cycles and hostile ``__repr__``/``__len__``/``__iter__``/properties, bounds
depth, string length, item counts and total size (:class:`Limits`), and masks secrets by key
(:func:`is_secret_key`), by a ``Bearer `` value prefix, and by their shape inside any string
(API keys, JWTs, private keys, passwords in URLs and connection strings: :mod:`.mask`).

Choices: ints outside the signed 64-bit range become decimal strings (every JSON reader keeps
int64, not every one keeps more); Decimal becomes ``str`` (exact); timedelta becomes seconds;
bytes become ``"<bytes len=N: b'...'>"`` (a preview, never base64: traces are for humans);
non-str keys become ``safe_str(key)``, and a key that collides with one already taken gets a
``" (2)"``-style suffix; sets are sorted when their items allow it. ``KeyboardInterrupt`` and
``SystemExit`` are deliberately not swallowed.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import decimal
import enum
import math
import pathlib
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence, Set, ValuesView
from itertools import islice
from typing import Any

from honeytrace._deliver.mask import MASK, MIN_SECRET, is_secret_key, scrub
from honeytrace._deliver.plain import BEARER as _BEARER
from honeytrace._deliver.plain import own_dict

__all__ = [
    "DEFAULT_LIMITS",
    "MASK",
    "TRUNCATION_MARK",
    "Limits",
    "flat_dict",
    "is_secret_key",
    "safe_repr",
    "safe_str",
    "to_jsonable",
]

TRUNCATION_MARK: str = "…[truncated"  # every cut value contains it: "…[truncated 9,743,212 chars]"
DEPTH_MARK = "<max depth>"
CIRCULAR_MARK = "<circular reference>"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DEPTH_CEILING = 200  # pydantic_core refuses nesting past ~254 levels, whatever Limits says
_SCALAR_COST = 8  # rough JSON size of a number, bool or null
_NAMED = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)
_AS_STR = (uuid.UUID, decimal.Decimal, pathlib.PurePath, complex, collections.UserString)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one top-level value. Past ``max_depth`` levels (capped at 200, which
    pydantic_core can still encode) containers become ``"<max depth>"``; strings longer than
    ``max_string`` are cut with a :data:`TRUNCATION_MARK` suffix; lists keep ``max_items`` items
    plus one marker string, dicts plus a ``"…"`` marker key; ``max_total`` is an approximate
    character budget after which containers stop and strings are cut."""

    max_depth: int = 32
    max_string: int = 262_144
    max_items: int = 10_000
    max_total: int = 1_048_576


DEFAULT_LIMITS: Limits = Limits()


def to_jsonable(obj: object, limits: Limits = DEFAULT_LIMITS, *, mask_secrets: bool = True) -> Any:
    """Return a JSON-able copy of ``obj`` within ``limits``; never raises (see module doc)."""
    if obj is None or type(obj) is bool:
        return obj
    if type(obj) is int and _INT64_MIN <= obj <= _INT64_MAX:
        return obj
    try:
        if type(obj) is dict:
            flat = flat_dict(obj, limits, mask_secrets)
            if flat is not None:
                return flat
        return _Walker(limits, mask_secrets).walk(obj, 0)
    except RecursionError:
        return DEPTH_MARK
    except Exception as exc:  # a bug here must not cost the event
        return f"<unserializable {_type_name(obj)}: {type(exc).__name__}>"


def flat_dict(obj: dict[Any, Any], limits: Limits, mask_secrets: bool) -> dict[str, Any] | None:
    """The common case, fast: a copy of a dict of plain values (str, int, float, bool, None,
    and small dicts, lists and tuples of them), exactly what the walker would make of it
    (:mod:`.plain`); None when the walker must decide."""
    if len(obj) > 256:
        return None
    copy = dict(obj)  # one C call: safe from another thread changing obj meanwhile
    return copy if own_dict(copy, limits, mask_secrets) else None


def safe_repr(obj: object, limit: int = 1000) -> str:
    """``repr(obj)`` cut to ``limit`` characters, valid UTF-8; never raises, falling back to
    ``"<TypeName object (repr failed: ExcType)>"``."""
    try:
        text = repr(obj)
    except Exception as exc:
        text = f"<{_type_name(obj)} object (repr failed: {type(exc).__name__})>"
    return _clean(_clip(text, limit))


def safe_str(obj: object, limit: int = 262_144) -> str:
    """``str(obj)`` like :func:`safe_repr`: cut, valid UTF-8, never raises."""
    try:
        text = obj if type(obj) is str else str(obj)
    except Exception as exc:
        text = f"<{_type_name(obj)} object (str failed: {type(exc).__name__})>"
    return _clean(_clip(text, limit))


def _type_name(obj: object) -> str:
    try:
        return str(type(obj).__qualname__)
    except Exception:  # a metaclass can break even this
        return "object"


def _clip(text: str, limit: int) -> str:
    if type(text) is not str:  # a __repr__ may return a str subclass with hostile methods
        text = str.__str__(text)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit, 0)]}{TRUNCATION_MARK} {len(text) - max(limit, 0):,} chars]"


def _clean(text: str) -> str:
    """Replace lone surrogates (the only str content UTF-8 cannot carry) with U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # utf-16 with surrogatepass re-pairs split surrogate pairs and flags only lone ones.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _has(kind: type, name: str) -> bool:
    # Looked up on the type: an instance's __getattr__ may raise anything, or invent attributes.
    try:
        return callable(getattr(kind, name, None))
    except Exception:
        return False


def _qualified_name(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        return safe_repr(obj)
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) and module != "builtins" else name


class _Walker:
    """One conversion: the remaining size budget and the containers on the current path."""

    __slots__ = ("_active", "_budget", "_limits", "_mask", "_max_depth")

    def __init__(self, limits: Limits, mask: bool) -> None:
        self._limits = limits
        self._mask = mask
        self._budget = limits.max_total
        self._max_depth = min(limits.max_depth, _DEPTH_CEILING)
        self._active: set[int] = set()  # ids of the containers being walked, to spot cycles

    def walk(self, obj: Any, depth: int) -> Any:
        kind = type(obj)
        if kind is str:
            return self._text(obj)
        self._budget -= _SCALAR_COST
        if obj is None or kind is bool:
            return obj
        if kind is int:
            return self._int(obj)
        if kind is float:
            return self._float(obj)
        try:
            return self._convert(obj, kind, depth)
        except RecursionError:
            return DEPTH_MARK
        except Exception:
            return self._text(safe_repr(obj))

    def _text(self, text: str) -> str:
        if self._mask and _BEARER.match(text, 0, 80):
            return MASK
        size = len(text)
        if size <= self._limits.max_string and size < self._budget:  # fits: the usual case
            self._budget -= size + 4  # quotes and separator
            text = text if text.isascii() else _clean(text)
        else:
            allowed = min(self._limits.max_string, max(self._budget, 0))
            self._budget -= min(size, allowed) + 4
            text = _clean(_clip(text, allowed))
        if self._mask and len(text) >= MIN_SECRET:
            return scrub(text)
        return text

    def _int(self, value: int) -> int | str:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        try:
            return self._text(str(value))
        except ValueError:  # beyond sys.get_int_max_str_digits()
            return f"<int of {value.bit_length():,} bits>"

    @staticmethod
    def _float(value: float) -> float | str:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")

    def _convert(self, obj: Any, kind: type, depth: int) -> Any:
        if kind is dict or kind is list or kind is tuple:  # the common case skips the checks
            return self._enter(obj, kind, depth)
        # Dispatch on type(obj), never obj.__class__, which an object can fake or make raise.
        if issubclass(kind, enum.Enum):
            return self.walk(obj.value, depth + 1)
        if issubclass(kind, str):
            return self._text(str.__str__(obj))  # an exact copy, bypassing an overridden __str__
        if issubclass(kind, int):
            return self._int(int.__int__(obj))
        if issubclass(kind, float):
            return self._float(float.__float__(obj))
        if issubclass(kind, (bytes, bytearray, memoryview)):
            return self._text(_describe_bytes(obj))
        if issubclass(kind, (datetime.date, datetime.time)):
            return self._text(obj.isoformat())
        if issubclass(kind, datetime.timedelta):
            return self._float(datetime.timedelta.total_seconds(obj))  # not an override
        if issubclass(kind, _AS_STR):
            return self._text(safe_str(obj))
        if issubclass(kind, BaseException):
            message = safe_str(obj)
            return self._text(f"{kind.__name__}: {message}" if message else kind.__name__)
        if issubclass(kind, _NAMED):
            return self._text(_qualified_name(obj))
        return self._enter(obj, kind, depth)

    def _enter(self, obj: Any, kind: type, depth: int) -> Any:
        if depth >= self._max_depth:
            return DEPTH_MARK
        if id(obj) in self._active:
            return CIRCULAR_MARK
        self._active.add(id(obj))
        try:
            return self._container(obj, kind, depth)
        finally:
            self._active.discard(id(obj))

    def _container(self, obj: Any, kind: type, depth: int) -> Any:
        if kind is list or kind is tuple:
            return self._items(obj[: self._limits.max_items], len(obj), depth)
        arraylike = kind is not dict and (_has(kind, "tolist") or _has(kind, "item"))
        if arraylike and hasattr(obj, "dtype"):  # numpy, torch...: duck-typed, never imported
            return self._array(obj, kind, depth)
        if kind is dict or issubclass(kind, Mapping):
            items = _snapshot(obj, lambda m: m.items(), self._limits.max_items)
            if items is None:
                return f"<{kind.__name__} changed size during iteration>"
            return self._pairs(items, _safe_len(obj, len(items)), depth)
        if issubclass(kind, (Sequence, Set, ValuesView, collections.deque)):
            items = _snapshot(obj, iter, self._limits.max_items)
            if items is None:
                return f"<{kind.__name__} changed size during iteration>"
            if issubclass(kind, Set):
                with contextlib.suppress(Exception):  # unorderable items keep their order
                    items = sorted(items)
            return self._items(items, _safe_len(obj, len(items)), depth)
        return self._structured(obj, kind, depth)

    def _structured(self, obj: Any, kind: type, depth: int) -> Any:
        if dataclasses.is_dataclass(kind):
            # Not dataclasses.asdict: it deep-copies everything and loops forever on cycles.
            return self._attributes(obj, [f.name for f in dataclasses.fields(kind)], depth)
        attrs_fields = getattr(kind, "__attrs_attrs__", None)
        if attrs_fields is not None:
            return self._attributes(obj, [a.name for a in attrs_fields], depth)
        model_fields = getattr(kind, "model_fields", None)
        if _has(kind, "model_dump") and isinstance(model_fields, dict):
            try:
                return self._converted(obj.model_dump(mode="python"), depth)
            except Exception:  # a failing serializer: read the fields ourselves
                names = list(model_fields)
                extra = getattr(obj, "__pydantic_extra__", None)
                return self._attributes(obj, names + list(extra or ()), depth)
        if _has(kind, "dict") and isinstance(getattr(kind, "__fields__", None), dict):
            return self._converted(obj.dict(), depth)  # pydantic v1 style
        for method in ("to_dict", "__json__"):
            if _has(kind, method):
                if math.prod(_shape(obj)) > self._limits.max_items:  # a big pandas DataFrame
                    return self._text(f"<{kind.__name__} shape={_shape(obj)}>")
                return self._converted(getattr(obj, method)(), depth)
        # A plain instance: its __dict__ leaks internals and can be huge; its repr is the intent.
        return self._text(safe_repr(obj))

    def _converted(self, value: Any, depth: int) -> Any:
        # A fresh dict or list does not add a level; anything else might be an endless chain.
        return self.walk(value, depth if type(value) in (dict, list) else depth + 1)

    def _array(self, obj: Any, kind: type, depth: int) -> Any:
        shape = _shape(obj)
        if not shape and _has(kind, "item"):
            return self.walk(obj.item(), depth + 1)
        if math.prod(shape) <= self._limits.max_items and _has(kind, "tolist"):
            return self._converted(obj.tolist(), depth)
        return self._text(f"<{kind.__name__} shape={shape} dtype={safe_str(obj.dtype, 100)}>")

    def _attributes(self, obj: Any, names: list[str], depth: int) -> dict[str, Any]:
        pairs: list[tuple[Any, Any]] = []
        for name in names[: self._limits.max_items]:
            try:
                pairs.append((name, getattr(obj, name)))
            except Exception as exc:
                pairs.append((name, f"<{type(exc).__name__} reading {name}>"))
        return self._pairs(pairs, len(names), depth)

    def _items(self, items: Sequence[Any], total: int, depth: int) -> list[Any]:
        out: list[Any] = []
        self._budget -= 2
        for item in items:
            if self._budget <= 0:
                break
            out.append(self.walk(item, depth + 1))
        if total > len(out):
            out.append(f"{TRUNCATION_MARK} {total - len(out):,} items]")
        return out

    def _pairs(self, items: Iterable[tuple[Any, Any]], total: int, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        suffixes: dict[str, int] = {}
        self._budget -= 2
        for key, value in items:
            if self._budget <= 0:
                break
            # 1 and "1", or two long keys cut to one prefix: both are kept, the later renamed.
            name = _unique(self._text(key if type(key) is str else safe_str(key)), out, suffixes)
            if self._mask and is_secret_key(name):
                out[name] = MASK
            else:
                out[name] = self.walk(value, depth + 1)
        if total > len(out):
            dropped = total - len(out)
            out[_unique("…", out, suffixes)] = f"{TRUNCATION_MARK} {dropped:,} keys]"
        return out


def _snapshot(obj: Any, iterate: Callable[[Any], Iterable[Any]], limit: int) -> list[Any] | None:
    """The first ``limit`` items of ``iterate(obj)``; another thread may be mutating ``obj``,
    so a failed pass is retried once on a copy. None when both passes fail."""
    try:
        return list(islice(iterate(obj), limit))
    except RuntimeError:  # "dictionary changed size during iteration" and kin
        pass
    try:
        copy = obj.copy() if _has(type(obj), "copy") else obj
        return list(islice(iterate(copy), limit))
    except RuntimeError:
        return None


def _unique(name: str, taken: Mapping[str, Any], suffixes: dict[str, int]) -> str:
    if name not in taken:
        return name
    number = suffixes.get(name, 2)  # remembered, so many equal keys stay linear
    while f"{name} ({number})" in taken:
        number += 1
    suffixes[name] = number + 1
    return f"{name} ({number})"


def _shape(obj: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in getattr(obj, "shape", ()))


def _safe_len(obj: Any, default: int) -> int:
    try:
        size = len(obj)
    except Exception:
        return default
    return size if type(size) is int else default


def _describe_bytes(data: bytes | bytearray | memoryview) -> str:
    if isinstance(data, memoryview):
        size = data.nbytes  # a released view raises here: the caller's guard handles it
        try:
            head = bytes(data.cast("B")[:64])
        except TypeError:  # only C-contiguous views can be flattened
            head = b""
    else:
        # A slice, not a memoryview: a live export would stop the user's thread resizing it.
        size, head = len(data), bytes(data[:64])
    more = "..." if size > len(head) else ""
    return f"<{type(data).__name__} len={size}: {head!r}{more}>"
