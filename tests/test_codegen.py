"""Wrappers made with the decorated function's own parameters (_record.codegen): every way
of calling them behaves as calling the function itself, and what they record is the same as
the generic ``*args, **kwargs`` wrapper's."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

import honeytrace
from honeytrace._record import codegen as _codegen
from honeytrace._record import generators as _generators
from honeytrace._record import wrappers as _wrappers
from honeytrace.testing import Capture

SENTINEL: list[int] = []


def exact(wrapper: Any) -> bool:
    """Whether the wrapper takes its function's parameters (not ``*args, **kwargs``)."""
    return not wrapper.__code__.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)


def test_defaults_keywords_and_positional_only(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_tool
    def tool(a: int, /, b: int, c: list[int] = SENTINEL, d: str = "x") -> tuple[Any, ...]:
        return a, b, c, d

    assert exact(tool)
    with honeytrace.session("s"):
        assert tool(1, 2) == (1, 2, SENTINEL, "x")
        assert tool(1, d="y", b=3)[1:] == (3, SENTINEL, "y")
        assert tool(1, 2)[2] is SENTINEL  # the function's own default object, not a copy
        with pytest.raises(TypeError, match=r"tool\(\) got some positional-only arguments"):
            tool(a=1, b=2)  # type: ignore[call-arg]
    events = honeytrace_capture.events
    assert events[0]["inputs"] == {"a": 1, "b": 2, "c": [], "d": "x"}
    assert events[1]["inputs"] == {"a": 1, "b": 3, "c": [], "d": "y"}


def test_a_wrong_call_raises_the_functions_own_type_error() -> None:
    @honeytrace.trace_tool
    def needs_two(a: int, b: int) -> int:
        return a + b

    with honeytrace.session("s"), pytest.raises(TypeError) as caught:
        needs_two(1)  # type: ignore[call-arg]
    assert "needs_two() missing 1 required positional argument: 'b'" in str(caught.value)


def test_signature_name_and_doc_are_kept() -> None:
    def original(query: str, k: int = 3) -> list[str]:
        """Search."""
        return [query] * k

    traced = honeytrace.trace_tool(original)
    assert exact(traced)
    assert inspect.signature(traced) == inspect.signature(original)
    assert traced.__name__ == "original" and traced.__doc__ == "Search."
    assert traced.__wrapped__ is original
    assert traced("q", k=2) == ["q", "q"]


@pytest.mark.parametrize("name", ["span", "fn", "parent", "type", "snapshot", "result", "args"])
def test_a_parameter_named_like_a_wrapper_variable_falls_back_to_the_generic_form(
    honeytrace_capture: Capture, name: str
) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def tool({name}, other):\n    return ({name}, other)", namespace)
    traced = honeytrace.trace_tool(namespace["tool"])
    assert not exact(traced)
    with honeytrace.session("s"):
        assert traced(1, other=2) == (1, 2)
    assert honeytrace_capture.event("tool")["inputs"] == {name: 1, "other": 2}


def test_other_callables_get_the_generic_form(honeytrace_capture: Capture) -> None:
    class Scale:
        def __call__(self, value: int) -> int:
            return value * 2

    def keyword_only(a: int, *, b: int) -> int:
        return a + b

    def variadic(*values: int, **named: int) -> int:
        return sum(values) + sum(named.values())

    scale = honeytrace.trace_tool(Scale())
    kw = honeytrace.trace_tool(keyword_only)
    var = honeytrace.trace_tool(variadic)
    assert not any(exact(w) for w in (scale, kw, var))
    assert exact(honeytrace.trace_tool(lambda a, b=2: a + b))
    with honeytrace.session("s"):
        assert scale(2) == 4 and kw(1, b=2) == 3 and var(1, 2, c=3) == 6
    inputs = [e["inputs"] for e in honeytrace_capture.events]
    assert inputs == [{"value": 2}, {"a": 1, "b": 2}, {"values": [1, 2], "c": 3}]


def test_methods_record_without_self_and_bind_as_before(honeytrace_capture: Capture) -> None:
    class Agent:
        @honeytrace.trace_chain
        def run(self, task: str, retries: int = 1) -> str:
            return f"{task}x{retries}"

        @honeytrace.trace_tool
        @staticmethod
        def util(a: int) -> int:
            return -a

    with honeytrace.session("s"):
        assert Agent().run("t") == "tx1"
        assert Agent.util(3) == -3
    assert honeytrace_capture.event("run")["inputs"] == {"task": "t", "retries": 1}
    assert honeytrace_capture.event("util")["inputs"] == {"a": 3}


def test_arguments_are_snapshot_per_parameter(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_model
    def chat(history: list[str], options: dict[str, int], tag: str) -> list[str]:
        history.append("reply")
        return history

    history = ["hi"]
    with honeytrace.session("s"):
        chat(history, {"n": 1}, "t")
    history.append("later")
    event = honeytrace_capture.event("chat")
    assert event["inputs"] == {"history": ["hi"], "options": {"n": 1}, "tag": "t"}
    assert event["outputs"] == {"result": ["hi", "reply"]}


def test_many_parameters_use_a_loop_and_still_snapshot(honeytrace_capture: Capture) -> None:
    names = [f"p{i}" for i in range(12)]
    namespace: dict[str, Any] = {}
    exec(f"def wide({', '.join(names)}):\n    p11.append(0)\n    return p0", namespace)
    traced = honeytrace.trace_tool(namespace["wide"])
    assert exact(traced)
    last: list[int] = []
    with honeytrace.session("s"):
        assert traced(*range(11), last) == 0
    assert honeytrace_capture.event("wide")["inputs"]["p11"] == []
    assert last == [0]


def test_tracebacks_show_the_wrapper_source() -> None:
    @honeytrace.trace_tool
    def fails(a: int) -> None:
        raise ValueError(a)

    with honeytrace.session("s"), pytest.raises(ValueError) as caught:
        fails(1)
    text = "".join(traceback.format_exception(caught.value))
    assert "<honeytrace wrapper" in text
    assert "result = fn(a)" in text  # the wrapper's line, from linecache


def test_one_compiled_template_per_parameter_list() -> None:
    def first(x: int, y: int) -> int:
        return x

    def second(x: int, y: int) -> int:
        return y

    before = len(_codegen._COMPILED)
    honeytrace.trace_tool(first)
    honeytrace.trace_tool(second)
    assert len(_codegen._COMPILED) - before <= 1


def test_every_template_names_only_what_its_module_has() -> None:
    # A misspelt name in a template would only fail when that line runs; check them all here.
    import builtins

    for template, module in ((_wrappers._SYNC, _wrappers), (_wrappers._ASYNC, _wrappers)):
        _check_names(template, vars(module), vars(builtins))
    _check_names(_generators._GEN, vars(_generators), vars(builtins))


def _check_names(template: str, module: dict[str, Any], builtins: dict[str, Any]) -> None:
    import symtable

    source = _codegen.GENERIC.substitute(template)
    missing = set()
    for table in _walk(symtable.symtable(source, "<template>", "exec")):
        for symbol in table.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                name = symbol.get_name()
                if name not in module and name not in builtins:
                    missing.add(name)
    assert not missing, f"names no module defines: {sorted(missing)}"


def _walk(table: Any) -> Iterator[Any]:
    yield table
    for child in table.get_children():
        yield from _walk(child)


def test_generator_fast_path_hands_over_on_throw_and_past_the_kept_items(
    honeytrace_capture: Capture,
) -> None:
    @honeytrace.trace_tool
    def resilient(n: int) -> Iterator[int]:
        for i in range(n):
            try:
                yield i
            except KeyError:
                yield -1

    with honeytrace.session("s"):
        gen = resilient(3)
        assert next(gen) == 0
        assert gen.throw(KeyError("k")) == -1  # thrown in at the first yield
        assert list(gen) == [1, 2]
        many = list(resilient(_generators.MAX_YIELDED + 5))
    assert len(many) == _generators.MAX_YIELDED + 5
    first, second = honeytrace_capture.events
    assert first["outputs"] == {"result": [0, -1, 1, 2]}
    assert len(second["outputs"]["result"]) == _generators.MAX_YIELDED
    assert second["metadata"]["yielded_items"] == _generators.MAX_YIELDED + 5


def test_a_generator_that_returns_a_value_keeps_it(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_chain
    def inner() -> Iterator[int]:
        yield 1
        return "done"  # the value `yield from` receives

    def outer() -> Iterator[int]:
        returned = yield from inner()
        yield len(returned)

    with honeytrace.session("s"):
        assert list(outer()) == [1, 4]
    assert honeytrace_capture.event("inner")["outputs"] == {"result": [1]}
