"""A user's module, checked by ``mypy --strict`` (and pyright) in tests/test_typing.py.

Each ``reveal_type`` is matched against the checker's output there: the decorators must keep
the decorated callable's parameters and return type in every form. Never imported at run time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import honeytrace
from honeytrace import trace, trace_chain, trace_model, trace_session, trace_tool


@trace_tool
def search(query: str) -> list[str]:
    return [query]


@trace_tool(name="lookup")
def lookup(key: str, *, limit: int = 3) -> dict[str, int]:
    return {key: limit}


@trace_tool("named")
def named(x: int) -> int:
    return x


@trace_model(model="gpt-4o", provider="openai")
def generate(prompt: str) -> str:
    return prompt


@trace_model
async def agenerate(prompt: str) -> str:
    return prompt


@trace_chain
def steps(n: int) -> Iterator[int]:
    yield from range(n)


@trace_chain(name="astream")
async def astream(n: int) -> AsyncIterator[str]:
    for i in range(n):
        yield str(i)


@trace
def plain(a: float, b: float = 1.0) -> float:
    return a + b


@trace(event_type="tool", capture_outputs=False)
def called(a: bytes) -> bytes:
    return a


@trace_session
def chat(q: str) -> str:
    return generate(q)


@trace_session(session_id=lambda q: q, flush=True)
async def handler(q: str) -> int:
    return len(q)


class Agent:
    @trace_chain
    def run(self, task: str) -> bool:
        return bool(task)

    @trace_tool
    @classmethod
    def build(cls, size: int) -> Agent:
        return cls()

    @classmethod
    @trace_tool
    def build_inner(cls, size: int) -> Agent:
        return cls()

    @trace_model(name="static")
    @staticmethod
    def helper(text: str) -> int:
        return len(text)

    @trace_session
    async def ask(self, q: str) -> list[int]:
        return [len(q)]


wrapped = honeytrace.wrap(search)

reveal_type(search)
reveal_type(lookup)
reveal_type(named)
reveal_type(generate)
reveal_type(agenerate)
reveal_type(steps)
reveal_type(astream)
reveal_type(plain)
reveal_type(called)
reveal_type(chat)
reveal_type(handler)
reveal_type(Agent().run)
reveal_type(Agent.build)
reveal_type(Agent.build_inner)
reveal_type(Agent.helper)
reveal_type(Agent().ask)
reveal_type(wrapped)

# Calls that type-check ...
docs: list[str] = search("refunds")
counts: dict[str, int] = lookup("k", limit=2)
agent: Agent = Agent.build(3)
