"""Wrappers made from a source template, with the decorated function's own parameters.

A wrapper written as ``def traced(*args, **kwargs)`` pays on every call for packing a tuple and
a fresh dict and for unpacking both again into the call: about a sixth of a traced call (see
``benchmarks/``). So when the decorated function is a plain Python function whose parameters
are all positional (defaults and ``/`` allowed) and none of whose names occurs in the template,
its wrapper is made with the very same parameters and calls it as ``fn(a, b)``. That is
equivalent for every valid call: keywords land on the same parameters, and omitted ones take
the function's own default objects, which the wrapper shares through ``__defaults__``. Any
other callable gets the generic ``*args, **kwargs`` form of the same template. (The approach of
``dataclasses`` and ``attrs`` for ``__init__``.)

A template is ordinary Python source with ``$`` placeholders (:class:`string.Template`) that
defines ``make(fn, spec, options)`` returning the wrapper; its globals are the calling
module's own namespace, so it reads (and tests may patch) that module's names as its own code
would. Each template is compiled once per parameter list, and its source is registered with
:mod:`linecache` so that tracebacks show the wrapper's lines.
"""

from __future__ import annotations

import functools
import inspect
import io
import keyword
import linecache
import tokenize
import types
from collections.abc import Callable
from string import Template
from typing import Any

__all__ = ["Shape", "make_wrapper", "shape_of"]

_UNROLLED = 8  # up to this many parameters, the snapshot check is written out per parameter
_COMPILED: dict[tuple[str, str], Callable[..., Any]] = {}


class Shape:
    """How a wrapper takes and passes on its arguments: the placeholders of a template.

    ``$params``: the wrapper's parameters; ``$call``: the arguments of the call to the
    decorated function; ``$pack`` and ``$kwargs``: the call's positional arguments as a tuple
    and its keyword arguments as a dict; ``$recorded_kwargs``: the keyword arguments to record
    (None when there are none). A line that is only ``$snapshot`` becomes statements that set
    ``snapshot`` to the positional arguments, copying any top-level list, dict or set. A line
    that starts with ``$if_kwargs`` is kept (without it) only when keywords can be recorded.
    """

    __slots__ = ("call", "defaults", "kwargs", "pack", "params", "recorded_kwargs", "snapshot")

    def __init__(
        self,
        params: str,
        call: str,
        pack: str,
        kwargs: str,
        recorded_kwargs: str,
        snapshot: list[str],
        defaults: tuple[Any, ...] | None = None,
    ) -> None:
        self.params = params
        self.call = call
        self.pack = pack
        self.kwargs = kwargs
        self.recorded_kwargs = recorded_kwargs
        self.snapshot = snapshot
        self.defaults = defaults

    def substitute(self, template: str) -> str:
        """The template's source for this shape."""
        lines = []
        for line in template.splitlines():
            if line.strip() == "$snapshot":
                indent = line[: len(line) - len(line.lstrip())]
                lines += [indent + statement for statement in self.snapshot]
            elif line.strip().startswith("$if_kwargs "):
                if self.recorded_kwargs != "None":  # else no keyword is ever recorded
                    lines.append(line.replace("$if_kwargs ", "", 1))
            else:
                lines.append(line)
        return Template("\n".join(lines) + "\n").substitute(
            params=self.params,
            call=self.call,
            pack=self.pack,
            kwargs=self.kwargs,
            recorded_kwargs=self.recorded_kwargs,
        )


# The lookups in _COPIED raise TypeError for an unhashable type (a metaclass with __eq__):
# the slower, identity-based _snapshot_args then decides (a try costs nothing until it raises).
_UNHASHABLE = ["except TypeError:", "    snapshot = _snapshot_args(snapshot)"]


def _loop_snapshot(pack: str) -> list[str]:
    return [
        f"snapshot = {pack}",
        "try:",
        "    for value in snapshot:",
        "        if type(value) in _COPIED:",
        "            snapshot = _snapshot_args(snapshot)",
        "            break",
        *_UNHASHABLE,
    ]


GENERIC = Shape(
    params="*args, **kwargs",
    call="*args, **kwargs",
    pack="args",
    kwargs="kwargs",
    recorded_kwargs="_snapshot_kwargs(kwargs) if kwargs else None",
    snapshot=_loop_snapshot("args"),
)


@functools.cache
def _names_in(template: str) -> frozenset[str]:
    reader = io.StringIO(GENERIC.substitute(template)).readline
    return frozenset(t.string for t in tokenize.generate_tokens(reader) if t.type == tokenize.NAME)


def shape_of(fn: Any, template: str) -> Shape:
    """The exact-parameter shape for ``fn`` when it has one, else :data:`GENERIC`."""
    if type(fn) is not types.FunctionType:
        return GENERIC
    code = fn.__code__
    if code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return GENERIC
    names = code.co_varnames[: code.co_argcount]
    reserved = _names_in(template)
    if any(name in reserved or keyword.iskeyword(name) for name in names):
        return GENERIC
    defaults = fn.__defaults__ or ()
    params = [
        f"{name}=None" if index >= len(names) - len(defaults) else name
        for index, name in enumerate(names)
    ]
    if code.co_posonlyargcount:
        params.insert(code.co_posonlyargcount, "/")
    call = ", ".join(names)
    pack = f"({call},)" if names else "()"
    if len(names) > _UNROLLED:
        snapshot = _loop_snapshot(pack)
    elif names:
        copied = " or ".join(f"type({name}) in _COPIED" for name in names)
        copy = "        snapshot = _snapshot_args(snapshot)"
        snapshot = [f"snapshot = {pack}", "try:", f"    if {copied}:", copy, *_UNHASHABLE]
    else:
        snapshot = ["snapshot = ()"]
    return Shape(", ".join(params), call, pack, "{}", "None", snapshot, fn.__defaults__)


def make_wrapper(
    template: str,
    namespace: dict[str, Any],
    fn: Any,
    spec: Any,
    options: Any,
    *,
    exact: bool = True,
) -> Callable[..., Any]:
    """The wrapper of ``fn`` made from ``template`` (globals: ``namespace``); ``exact=False``
    asks for the generic form whatever ``fn`` is."""
    shape = shape_of(fn, template) if exact else GENERIC
    key = (template, shape.params)
    make = _COMPILED.get(key)
    if make is None:
        source = shape.substitute(template)
        filename = f"<honeytrace wrapper {len(_COMPILED)}: ({shape.params})>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        scope: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace, scope)
        make = _COMPILED[key] = scope["make"]
    wrapper = make(fn, spec, options)
    if shape.defaults is not None:
        wrapper.__defaults__ = shape.defaults
    return wrapper  # type: ignore[no-any-return]
