"""Tracing across threads: a thread pool carries the context by itself; `honeytrace.wrap`
carries it into a thread you start yourself.

    python examples/threads.py && honeytrace show latest
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import honeytrace


@honeytrace.trace_tool
def embed(text: str) -> list[float]:
    """A fake embedding: three numbers derived from the text."""
    return [len(text) / 10, text.count(" ") / 10, sum(map(ord, text)) % 97 / 97]


@honeytrace.trace_chain
def index_documents(documents: list[str]) -> int:
    """Embed documents on a pool: each call nests under this chain."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        vectors = list(pool.map(embed, documents))
    return len(vectors)


@honeytrace.trace_tool
def warm_cache(keys: list[str]) -> int:
    """Work done on a plain thread."""
    return len(keys)


@honeytrace.trace_session(name="indexing-job")
def job(documents: list[str]) -> int:
    """Index in a pool while a background thread warms a cache."""
    worker = threading.Thread(target=honeytrace.wrap(warm_cache), args=(documents[:2],))
    worker.start()
    count = index_documents(documents)
    worker.join()
    return count


if __name__ == "__main__":
    print(job(["alpha beta", "gamma", "delta epsilon zeta", "eta"]), "documents indexed")
    print(f"all delivered: {honeytrace.flush()}")
