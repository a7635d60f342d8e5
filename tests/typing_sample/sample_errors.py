"""Calls a type checker must reject (tests/test_typing.py expects one error per marked line)."""

from __future__ import annotations

from honeytrace import trace, trace_session, trace_tool


@trace_session
def chat(q: str) -> str:
    return q


@trace_tool(name="search")
def search(query: str) -> list[str]:
    return [query]


@trace
def count(items: list[int]) -> int:
    return len(items)


class Agent:
    @trace_tool
    @classmethod
    def build(cls, size: int) -> Agent:
        return cls()


chat(1)  # error: int is not str
search(query=2)  # error: int is not str
wrong: int = search("q")  # error: list[str] is not int
count()  # error: missing argument
Agent.build("big")  # error: str is not int
