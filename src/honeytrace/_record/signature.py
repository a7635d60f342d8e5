"""What a traced function is, decided once at decoration: its name, type and argument binder.

The hot path keeps a call's ``args`` and ``kwargs`` as they came; :meth:`Spec.bind` turns them
into ``{parameter name: value}`` later, in the flusher, with the signature computed here once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Spec"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_SKIPPED_NAMES = frozenset({"self", "cls"})


class Spec:
    """The decoration-time description of a traced function (or of a ``span()`` block)."""

    __slots__ = (
        "_as_session",
        "_defaults",
        "_names",
        "_skip_first",
        "_var_keyword",
        "_var_positional",
        "capture_inputs",
        "capture_outputs",
        "config",
        "event_type",
        "metadata",
        "name",
    )

    def __init__(
        self,
        name: str,
        event_type: str,
        *,
        fn: Callable[..., Any] | None = None,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        capture_inputs: bool | None = None,
        capture_outputs: bool | None = None,
    ) -> None:
        self.name = name
        self.event_type = event_type
        self.config = config
        self.metadata = metadata
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self._names: list[str] = []
        self._defaults: dict[str, Any] = {}
        self._var_positional: str | None = None
        self._var_keyword: str | None = None
        self._skip_first = False
        self._as_session: Spec | None = None
        if fn is not None:
            self._read_signature(fn)

    def _read_signature(self, fn: Callable[..., Any]) -> None:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return  # a builtin without a signature: bind() falls back to args/kwargs
        for parameter in signature.parameters.values():
            if parameter.kind in _POSITIONAL:
                self._names.append(parameter.name)
            elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                self._var_positional = parameter.name
            elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
                self._var_keyword = parameter.name
            if parameter.default is not inspect.Parameter.empty:
                self._defaults[parameter.name] = parameter.default
        # A method's receiver is passed positionally but is not an input worth recording.
        self._skip_first = bool(self._names) and self._names[0] in _SKIPPED_NAMES

    def as_session(self) -> Spec:
        """The spec of the implicit session opened by a call outside any session: same name
        and inputs as the call (made once, then reused)."""
        spec = self._as_session
        if spec is None:
            spec = Spec(
                self.name,
                "session",
                capture_inputs=self.capture_inputs,
                capture_outputs=self.capture_outputs,
            )
            spec._names = self._names
            spec._defaults = self._defaults
            spec._var_positional = self._var_positional
            spec._var_keyword = self._var_keyword
            spec._skip_first = self._skip_first
            self._as_session = spec
        return spec

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Map one call's arguments to parameter names: defaults applied, ``self``/``cls`` left
        out, ``*args`` as a list and ``**kwargs`` flattened into the result."""
        names = self._names
        if not names and self._var_positional is None and self._var_keyword is None:
            bound: dict[str, Any] = {}
            if args:
                bound["args"] = list(args)
            bound.update(kwargs)
            return bound
        bound = {}
        count = min(len(args), len(names))
        for index in range(count):
            bound[names[index]] = args[index]
        if len(args) > count:
            bound[self._var_positional or "args"] = list(args[count:])
        for key, value in kwargs.items():
            bound[key] = value
        for key, value in self._defaults.items():
            if key not in bound:
                bound[key] = value
        if self._skip_first:
            bound.pop(names[0], None)
        return bound
