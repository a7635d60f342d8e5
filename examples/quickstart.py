"""A small support agent, traced with honeytrace: no network, no key, no account.

Run it, then look at what it recorded:

    python examples/quickstart.py
    honeytrace show latest

With no HH_API_KEY and no HH_API_URL the traces go to .honeytrace/traces.db. Set HH_API_KEY to
send them to HoneyHive instead, or HH_API_URL=http://127.0.0.1:8787 to send them to a local
`honeytrace serve`: the code does not change.
"""

from __future__ import annotations

import honeytrace

ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL", "eta_days": 2}}
ARTICLES = {
    "refund": "Refunds are issued to the original payment method within 5 business days.",
    "shipping": "Orders ship within 24 hours; tracking links arrive by email.",
}


class OrderNotFound(LookupError):
    """The order id is not in the system."""


@honeytrace.trace_tool
def search_knowledge_base(query: str, top_k: int = 2) -> list[str]:
    """Return the help-centre articles whose topic appears in the query."""
    hits = [text for topic, text in ARTICLES.items() if topic in query.lower()]
    honeytrace.enrich_span(metrics={"hits": len(hits)})
    return hits[:top_k]


@honeytrace.trace_tool
def lookup_order(order_id: str) -> dict[str, object]:
    """Fetch an order's status."""
    if order_id not in ORDERS:
        raise OrderNotFound(f"no order {order_id}")
    return ORDERS[order_id]


@honeytrace.trace_model(model="fake-gpt", provider="local", config={"temperature": 0.2})
def generate(messages: list[dict[str, str]]) -> str:
    """A stand-in for an LLM call: answers from the context in the last message."""
    context = messages[-1]["content"]
    words = len(" ".join(m["content"] for m in messages).split())
    honeytrace.enrich_span(metrics={"prompt_tokens": words, "completion_tokens": 24})
    return f"Here is what I found: {context}"


@honeytrace.trace_chain
def answer(question: str, order_id: str | None) -> str:
    """Retrieve, call tools, then ask the model."""
    facts = search_knowledge_base(question)
    if order_id is not None:
        try:
            order = lookup_order(order_id)
            facts.append(f"Order {order_id} is {order['status']} via {order['carrier']}.")
        except OrderNotFound:
            facts.append(f"I could not find order {order_id}; please check the number.")
    messages = [
        {"role": "system", "content": "You are a helpful support agent."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": " ".join(facts) or "No article matched."},
    ]
    return generate(messages)


@honeytrace.trace_session(name="support-chat", user_properties={"plan": "pro"})
def support_chat(customer: str, questions: list[tuple[str, str | None]]) -> list[str]:
    """One conversation: several questions, each answered by the chain above."""
    honeytrace.enrich_session(metadata={"customer": customer, "channel": "web"})
    replies = [answer(question, order_id) for question, order_id in questions]
    honeytrace.enrich_session(feedback={"resolved": True})
    return replies


def main() -> None:
    replies = support_chat(
        "ada@example.com",
        [
            ("Where is my shipping order?", "A-1001"),
            ("How do refunds work for order B-2?", "B-2"),  # a handled error: unknown order
        ],
    )
    for reply in replies:
        print(reply)
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
