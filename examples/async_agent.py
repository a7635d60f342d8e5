"""An asyncio agent that fans out: one session, several tools awaited concurrently.

    python examples/async_agent.py && honeytrace show latest

Each task inherits the event that was open when it was created, so the fan-out appears as
siblings under the planning step, whatever order they finish in.
"""

from __future__ import annotations

import asyncio
import random

import honeytrace

SOURCES = ["docs", "tickets", "changelog", "forum"]


@honeytrace.trace_tool
async def fetch(source: str, query: str) -> list[str]:
    """Pretend to query one source (a random small delay stands for the network)."""
    await asyncio.sleep(random.uniform(0.001, 0.01))
    return [f"{source}: result for {query!r}"]


@honeytrace.trace_model(model="fake-gpt", provider="local")
async def summarize(snippets: list[str]) -> str:
    """Stand-in for an LLM call."""
    await asyncio.sleep(0.002)
    honeytrace.enrich_span(metrics={"prompt_tokens": 12 * len(snippets), "completion_tokens": 20})
    return f"{len(snippets)} findings"


@honeytrace.trace_chain
async def research(query: str) -> str:
    """Ask every source at once, then summarize."""
    results = await asyncio.gather(*(fetch(source, query) for source in SOURCES))
    return await summarize([line for result in results for line in result])


@honeytrace.trace_session(name="async-research")
async def main(queries: list[str]) -> list[str]:
    """Several research chains, themselves concurrent."""
    return list(await asyncio.gather(*(research(q) for q in queries)))


if __name__ == "__main__":
    print(asyncio.run(main(["rate limits", "webhooks"])))
    print(f"all delivered: {honeytrace.flush()}")
