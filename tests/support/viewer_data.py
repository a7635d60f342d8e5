"""Sessions for the viewer's tests, recorded by real traced code and delivered over HTTP to a
running collector: a quickstart-like support chat (tools, a chain, a model event with messages,
tokens, cost and a tool call), a session that fails with a traceback, one whose data holds a
``<script>`` and one with a 600 KB input (deferred in the details)."""

from __future__ import annotations

from dataclasses import dataclass

import honeytrace

SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'


@dataclass
class Recorded:
    """The ids of the sessions :func:`record` made, by what they show."""

    support: str
    support_again: str
    failing: str
    hostile: str
    big: str


class OrderNotFound(LookupError):
    """The order id is unknown."""


@honeytrace.trace_tool
def search_knowledge_base(query: str) -> list[str]:
    return ["Refunds are issued within 5 business days."] if "refund" in query else []


@honeytrace.trace_tool
def lookup_order(order_id: str) -> dict[str, str]:
    if order_id != "A-1001":
        raise OrderNotFound(f"no order {order_id}")
    return {"status": "shipped"}


@honeytrace.trace_model(model="fake-gpt", provider="local", config={"temperature": 0.2})
def generate(messages: list[dict[str, str]], answer: str) -> dict[str, object]:
    honeytrace.enrich_span(
        metrics={
            "prompt_tokens": 42,
            "completion_tokens": 17,
            "cost_usd": 0.0021,
            "ttft_ms": 120,  # "time_to_first_token" would be masked as a secret ("token")
        }
    )
    return {
        "role": "assistant",
        "content": answer,
        "tool_calls": [
            {"id": "call_1", "function": {"name": "lookup_order", "arguments": '{"id": "A-1"}'}}
        ],
    }


@honeytrace.trace_chain
def answer(question: str, order_id: str | None, style: str) -> object:
    facts = search_knowledge_base(question)
    if order_id:
        try:
            facts.append(str(lookup_order(order_id)))
        except OrderNotFound:
            facts.append("unknown order")
    messages = [
        {"role": "system", "content": "You are a helpful support agent."},
        {"role": "user", "content": question},
    ]
    return generate(messages, f"{style}: {' '.join(facts)}")


def support_chat(name: str, style: str) -> str:
    with honeytrace.session(name) as session:
        honeytrace.enrich_session(metadata={"customer": "ada@example.com"})
        answer("How do refunds work?", "A-1001", style)
        answer("Where is order B-2?", "B-2", style)
        return session.session_id  # type: ignore[no-any-return]


@honeytrace.trace_tool
def explode(limit: int) -> None:
    raise ValueError(f"limit {limit} is too small")


def failing_session() -> str:
    with honeytrace.session("failing-job") as session:
        try:
            explode(3)
        except ValueError:
            pass
        return session.session_id  # type: ignore[no-any-return]


@honeytrace.trace_tool(name="hostile-tool")
def hostile(text: str) -> str:
    return text


def hostile_session() -> str:
    with honeytrace.session(f"hostile {SCRIPT}") as session:
        hostile(SCRIPT)
        return session.session_id  # type: ignore[no-any-return]


@honeytrace.trace_tool
def summarize(document: str) -> int:
    return len(document)


def big_session() -> str:
    with honeytrace.session("big-input") as session:
        summarize("lorem ipsum " * 50_000)
        return session.session_id  # type: ignore[no-any-return]


def record(url: str, api_key: str | None = None) -> Recorded:
    """Run every traced program against the collector at ``url`` and wait until delivered."""
    options: dict[str, object] = {"exporter": "http", "server_url": url}
    if api_key:
        options["api_key"] = api_key
    honeytrace.configure(**options)
    recorded = Recorded(
        support=support_chat("support-chat", "friendly"),
        support_again=support_chat("support-chat", "terse"),
        failing=failing_session(),
        hostile=hostile_session(),
        big=big_session(),
    )
    assert honeytrace.flush(20.0), honeytrace.stats()
    return recorded
